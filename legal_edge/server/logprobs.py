"""Token log-probabilities in OpenAI's two shapes: chat (``content`` entries) and legacy
completions (parallel ``tokens`` / ``token_logprobs`` / ``top_logprobs`` / ``text_offset``)."""

from __future__ import annotations

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


def text_logprobs(tokens: Sequence[TokenLogprob], offset: int = 0) -> dict[str, Any]:
    """``offset``: where the first token starts in the returned text (the prompt's length when
    it is echoed)."""
    offsets = []
    for t in tokens:
        offsets.append(offset)
        offset += len(t.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{text: lp for text, _, lp in reversed(t.top)} for t in tokens],
        "text_offset": offsets,
    }
