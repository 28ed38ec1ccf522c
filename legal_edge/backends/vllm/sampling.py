"""The server's ``SamplingParams`` as vLLM's; vLLM's token log-probabilities as ``TokenLogprob``.

Structured output is vLLM's own (xgrammar): the request's JSON schema goes in as a structural
tag, so whitespace between JSON tokens is bounded (at most ``MAX_WHITESPACE`` in a row, as in
the llama.cpp grammar) and a tiny model cannot fill its budget with blanks, and a number without
bounds gets llama.cpp's (16 digits, ``NUMBER_BOUND``) so it cannot run on as ``1000...`` until
``max_tokens`` (xgrammar's numbers are unbounded; a request's schema can state no bounds of its
own, the server refuses ``minimum``/``maximum``); a tool call under
``tool_choice`` ``auto`` (``OBJECT_TRIGGER``) is "either one object in the schema or text that
does not start with ``{``". Log-probabilities are vLLM's raw ones: the model's distribution before
bias, penalties or the schema, as on llama.cpp.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from legal_edge.backends.base import (
    OBJECT_TRIGGER,
    InvalidRequest,
    SamplingParams,
    TokenLogprob,
)

MAX_WHITESPACE = 20
NUMBER_BOUND = 10**16 - 1
NUMERIC = {"integer", "number"}
BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_BLANK = "[ \\t\\r\\n]"
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def structural_tag(params: SamplingParams) -> str | None:
    """The structural tag (JSON text) that enforces ``params.json_schema``; None without one."""
    if params.json_schema is None:
        return None
    json_format = {
        "type": "json_schema",
        "json_schema": bounded_numbers(json.loads(params.json_schema)),
        "max_whitespace_cnt": MAX_WHITESPACE,
    }
    if not params.grammar_triggers:
        return json.dumps({"type": "structural_tag", "format": json_format})
    if params.grammar_triggers != (OBJECT_TRIGGER,):
        raise InvalidRequest(
            "tools: the vllm backend only knows the lazy constraint of tool_choice auto "
            f"(trigger {OBJECT_TRIGGER!r}), not {list(params.grammar_triggers)}",
            "tools",
        )
    either = [
        {"type": "sequence", "elements": [{"type": "regex", "pattern": f"{_BLANK}*"}, json_format]},
        {
            "type": "sequence",
            "elements": [
                {"type": "regex", "pattern": f"{_BLANK}*[^ \\t\\r\\n{{]"},
                {"type": "any_text"},
            ],
        },
    ]
    return json.dumps({"type": "structural_tag", "format": {"type": "or", "elements": either}})


def bounded_numbers(schema: Any) -> Any:
    """``schema`` with ``-NUMBER_BOUND..NUMBER_BOUND`` on every integer or number that has no
    bound."""
    if isinstance(schema, list):
        return [bounded_numbers(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_numbers(v) for k, v in schema.items()}
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if types & NUMERIC and not BOUNDS & schema.keys():
        out.update(minimum=-NUMBER_BOUND, maximum=NUMBER_BOUND)
    return out


def constraint_kwargs(params: SamplingParams, vocab_size: int) -> dict[str, Any]:
    """vLLM ``SamplingParams`` keywords for the schema, logit bias and logprobs."""
    if params.grammar is not None and params.json_schema is None:
        raise InvalidRequest(
            "response_format: the vllm backend takes JSON schemas, not grammars", "response_format"
        )
    out: dict[str, Any] = {}
    tag = structural_tag(params)
    if tag is not None:
        from vllm.sampling_params import StructuredOutputsParams

        out["structured_outputs"] = StructuredOutputsParams(structural_tag=tag)
    if params.logit_bias:
        for token, _ in params.logit_bias:
            if not 0 <= token < vocab_size:
                raise InvalidRequest(
                    f"logit_bias: token id {token} is not in this model's vocabulary "
                    f"(0..{vocab_size - 1})",
                    "logit_bias",
                )
        out["logit_bias"] = dict(params.logit_bias)
    if params.top_logprobs is not None:
        out["logprobs"] = params.top_logprobs
    if params.prompt_logprobs:  # the prompt token's own and the top_logprobs most likely
        out["prompt_logprobs"] = params.top_logprobs or 0
    return out


class TokenBytes:
    """A token id's exact bytes: a byte-fallback token (``<0xE5>``) is its one byte, any other
    token its decoded text (what the tokenizer writes for it alone)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[int, bytes] = {}

    def __call__(self, token: int) -> bytes:
        data = self._cache.get(token)
        if data is None:
            piece = self.tokenizer.convert_ids_to_tokens(token)
            m = _BYTE_TOKEN.fullmatch(piece) if isinstance(piece, str) else None
            if m is not None:
                data = bytes([int(m.group(1), 16)])
            else:
                data = self.tokenizer.decode([token], skip_special_tokens=False).encode()
            self._cache[token] = data
        return data


def prompt_logprobs(
    token_ids: Sequence[int],
    positions: Sequence[Mapping[int, Any] | None] | None,
    top: int,
    piece: Callable[[int], bytes],
) -> tuple[TokenLogprob, ...]:
    """One ``TokenLogprob`` per prompt token from vLLM's ``prompt_logprobs`` (None for the first
    token: nothing before it predicts it; then one ``{id: Logprob}`` map per position)."""
    if not positions or len(positions) != len(token_ids):
        raise RuntimeError(
            f"vLLM returned {len(positions or ())} prompt logprobs for {len(token_ids)} tokens"
        )
    data = piece(token_ids[0])
    first = TokenLogprob(data.decode("utf-8", errors="replace"), data, None)
    rest = token_logprobs(token_ids[1:], list(positions[1:]), top, piece)  # type: ignore[arg-type]
    return (first, *rest)


def token_logprobs(
    token_ids: Sequence[int],
    positions: Sequence[Mapping[int, Any]] | None,
    top: int,
    piece: Callable[[int], bytes],
) -> tuple[TokenLogprob, ...]:
    """One ``TokenLogprob`` per generated token from vLLM's per-position ``{id: Logprob}`` maps
    (the sampled token and the ``top`` most likely, each with its rank)."""
    if not positions:
        return ()
    out = []
    for token, position in zip(token_ids, positions, strict=True):
        ranked = sorted(position.items(), key=lambda kv: (kv[1].rank or 0, kv[0]))
        alts = []
        for t, lp in ranked[:top] if top else ():
            data = piece(t)
            alts.append((data.decode("utf-8", errors="replace"), data, float(lp.logprob)))
        data = piece(token)
        chosen = position[token].logprob
        out.append(
            TokenLogprob(data.decode("utf-8", errors="replace"), data, float(chosen), tuple(alts))
        )
    return tuple(out)
