"""Grammar and logit-bias samplers and token log-probabilities for the llama.cpp engine.

A grammar (structured output, tool calls) and a logit bias are llama.cpp samplers of a
request's own picker (``picker``), so every sequence in the batch follows its own constraints.
Log-probabilities are read from the raw logits row: the model's distribution, before bias,
penalties or grammar.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import llama_cpp
import numpy as np

from legal_edge.backends.base import InvalidRequest, TokenLogprob

ROOT = b"root"


def grammar_sampler(vocab: object, grammar: str, triggers: tuple[str, ...] = ()) -> object:
    """A grammar sampler (root rule ``root``); with ``triggers`` it stays off until the text
    generated so far matches one of those regexes (then it applies from the first group)."""
    if triggers:
        patterns = (ctypes.c_char_p * len(triggers))(*(t.encode() for t in triggers))
        sampler = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab, grammar.encode(), ROOT, patterns, len(triggers), None, 0
        )
    else:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), ROOT)
    if not sampler:
        raise InvalidRequest(
            "response_format: llama.cpp could not parse the grammar made from it",
            "response_format",
        )
    return sampler


def logit_bias_sampler(n_vocab: int, bias: tuple[tuple[int, float], ...]) -> object:
    items = (llama_cpp.llama_logit_bias * len(bias))()
    for i, (token, value) in enumerate(bias):
        items[i].token = token  # type: ignore[assignment]
        items[i].bias = value
    return llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(bias), items)


def piece_text(data: bytes) -> str:
    """A token's text for the API: a partial UTF-8 sequence shows as U+FFFD (``bytes`` is
    exact)."""
    return data.decode("utf-8", errors="replace")


def _most_likely(logits: np.ndarray, top: int) -> list[int]:
    """The ``top`` most likely token ids of one logits row, most likely first."""
    if top <= 0:
        return []
    k = min(top, logits.size)
    part = np.argpartition(-logits, k - 1)[:k]
    return [int(t) for t in part[np.argsort(-logits[part], kind="stable")]]


def _alternatives(
    logits: np.ndarray, logz: float, best: list[int], piece: Callable[[int], bytes]
) -> tuple[tuple[str, bytes, float], ...]:
    alts = []
    for t in best:
        b = piece(t)
        alts.append((piece_text(b), b, float(logits[t]) - logz))
    return tuple(alts)


def token_logprobs(
    row: np.ndarray, top: int
) -> Callable[[int, Callable[[int], bytes]], TokenLogprob]:
    """Log-softmax of ``row`` (copied now: a sampler may change the logits later); the returned
    function gives the chosen token's entry with the ``top`` most likely alternatives."""
    logits = np.array(row, dtype=np.float64)
    peak = logits.max()
    logz = float(peak + np.log(np.exp(logits - peak).sum()))
    best = _most_likely(logits, top)

    def entry(token: int, piece: Callable[[int], bytes]) -> TokenLogprob:
        data = piece(token)
        alts = _alternatives(logits, logz, best, piece)
        return TokenLogprob(piece_text(data), data, float(logits[token] - logz), alts)

    return entry


_BLOCK = 16  # logits rows turned to float64 at once (16 x 262k vocab: 32 MB)


def next_token_logprobs(
    rows: np.ndarray,
    targets: list[int],
    top: int,
    target_piece: Callable[[int], bytes],
    piece: Callable[[int], bytes],
) -> list[TokenLogprob]:
    """Prompt log-probabilities: row ``i`` of ``rows`` (the logits after prompt position ``i``)
    read at ``targets[i]`` (the prompt's next token), with the ``top`` alternatives.
    ``target_piece`` renders the prompt's own tokens (control tokens as their text, so the
    tokens spell the prompt), ``piece`` the alternatives (as generated tokens render)."""
    out: list[TokenLogprob] = []
    scratch = np.empty((_BLOCK, rows.shape[1]), dtype=np.float32)
    for start in range(0, len(targets), _BLOCK):
        # float32 throughout (exp of x - max <= 0 cannot overflow; the sums are pairwise): half
        # the memory traffic of float64, which is most of this function's time
        block = np.asarray(rows[start : start + _BLOCK], dtype=np.float32)
        peak = block.max(axis=1, keepdims=True)
        shifted = np.subtract(block, peak, out=scratch[: len(block)])
        logz = peak[:, 0].astype(np.float64) + np.log(
            np.exp(shifted, out=shifted).sum(axis=1, dtype=np.float64)
        )
        for j, token in enumerate(targets[start : start + _BLOCK]):
            row, z = block[j], float(logz[j])
            data = target_piece(token)
            alts = _alternatives(row, z, _most_likely(row, top), piece)
            out.append(TokenLogprob(piece_text(data), data, float(row[token]) - z, alts))
    return out
