"""Token log-probabilities in OpenAI's two shapes: chat (``content`` entries) and legacy
completions (parallel ``tokens`` / ``token_logprobs`` / ``top_logprobs`` / ``text_offset``)."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

from legal_edge.backends.base import TokenLogprob


def chat_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": t.text,
                "logprob": t.logprob,
                "bytes": list(t.data),
                "top_logprobs": [
                    {"token": text, "logprob": lp, "bytes": list(data)} for text, data, lp in t.top
                ],
            }
            for t in tokens
        ],
        "refusal": None,
    }


def text_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """``text_offset``: where each token starts in the returned text, in characters (a token
    that completes no character starts at the character it is part of). With ``echo`` the
    prompt's tokens come first, the first with ``null`` (nothing before it to predict it)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offsets, offset = [], 0
    for t in tokens:
        offsets.append(offset)
        offset += len(decoder.decode(t.data))
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [
            None if t.logprob is None else {text: lp for text, _, lp in reversed(t.top)}
            for t in tokens
        ],
        "text_offset": offsets,
    }
