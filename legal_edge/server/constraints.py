"""What a request constrains beyond plain sampling: grammar, logit bias, log-probabilities
(the prompt's own too: completions ``echo`` + ``logprobs``).

``constraints(req)`` turns the request's fields into ``SamplingParams`` keywords (a 400 naming
the field when one is malformed); ``fit_to_backend`` gives the serving backend the form of a
schema it enforces (a GBNF grammar for llama.cpp, the JSON schema for vLLM) and refuses what it
cannot honour, instead of silently ignoring it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from legal_edge.backends.base import Backend, SamplingParams
from legal_edge.server.errors import APIError, bad_combination, bad_request
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.server.structured import SchemaError, cached_grammar, response_schema

MAX_BIAS = 100.0


def logit_bias(raw: dict[str, float] | None) -> tuple[tuple[int, float], ...]:
    if not raw:
        return ()
    out = []
    for key, value in raw.items():
        try:
            token = int(key)
        except ValueError:
            raise bad_request(
                f"logit_bias: keys are token ids (integers as strings), got {key!r}", "logit_bias"
            ) from None
        if not (math.isfinite(value) and -MAX_BIAS <= value <= MAX_BIAS):
            raise bad_request(f"logit_bias[{key}]: {value} is outside -100..100", "logit_bias")
        out.append((token, float(value)))
    return tuple(out)


def top_logprobs(req: ChatCompletionRequest | CompletionRequest) -> int | None:
    if isinstance(req, CompletionRequest):
        return req.logprobs
    if req.top_logprobs is not None and not req.logprobs:
        raise bad_combination("top_logprobs: needs logprobs: true", "top_logprobs")
    return (req.top_logprobs or 0) if req.logprobs else None


def constraints(req: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    """``SamplingParams`` keywords for the request's schema, logit bias and logprobs."""
    out: dict[str, Any] = {
        "logit_bias": logit_bias(req.logit_bias),
        "top_logprobs": top_logprobs(req),
    }
    if isinstance(req, ChatCompletionRequest):
        out["json_schema"] = response_schema(req.response_format)
    else:
        out["prompt_logprobs"] = bool(req.echo) and req.logprobs is not None
    return out


def fit_to_backend(
    params: SamplingParams, backend: Backend, schema_field: str = "response_format"
) -> SamplingParams:
    """``params`` as ``backend`` takes them: a schema becomes a grammar for a backend that
    enforces grammars; a 400 naming the field (``schema_field`` for a schema: tools or
    response_format) when the backend cannot do what ``params`` asks."""
    features: frozenset[str] = getattr(backend, "features", frozenset())
    if params.json_schema is not None:
        needs = "json_schema" if "json_schema" in features else "grammar"
    else:
        needs = "grammar"
    asked = {
        needs: params.json_schema is not None or params.grammar is not None,
        "logprobs": params.top_logprobs is not None,
        "logit_bias": bool(params.logit_bias),
        "prompt_logprobs": params.prompt_logprobs,
        "prompt_only": params.max_tokens == 0,
    }
    what = {
        "prompt_logprobs": " with logprobs (the prompt's own log-probabilities)",
        "prompt_only": " 0 (the prompt alone, nothing generated)",
    }
    for feature, wanted in asked.items():
        if wanted and feature not in features:
            field = FEATURE_FIELDS.get(feature, schema_field)
            raise bad_request(
                f"{field}{what.get(feature, '')}: not supported by the "
                f"{type(backend).__name__} backend yet",
                field,
            )
    if needs == "grammar" and params.json_schema is not None and params.grammar is None:
        try:
            return replace(params, grammar=cached_grammar(params.json_schema))
        except SchemaError as exc:
            raise APIError(
                400, f"{schema_field}: {exc}", code="unsupported_schema", param=schema_field
            ) from None
    return params


FEATURE_FIELDS = {
    "logprobs": "logprobs",
    "logit_bias": "logit_bias",
    "prompt_logprobs": "echo",  # echo + logprobs: the prompt's own log-probabilities
    "prompt_only": "max_tokens",  # max_tokens 0: the prompt without a completion
}
