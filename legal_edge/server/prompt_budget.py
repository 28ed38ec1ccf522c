"""Grounded prompts sized to the machine they run on.

Time to first token is the time to read the prompt (with the closed-book guard, also its
question and the decode steps of its opening), and the articles are most of a grounded prompt.
The backend times one prompt and one decode step when the model loads and keeps both current
from the steps it serves (``prompt_rate``, tokens per second; ``decode_step_s``); ``fit`` cuts
the articles until all of that fits within ``grounding_first_token_ms``: each article shorter
first (``excerpt`` keeps the sentences that match the question), never below ``MIN_CHARS``, then
the lowest-ranked ones dropped. One article always stays: an answer with a short excerpt is
still grounded, one without is not. A request whose own messages already take the budget keeps
its best article.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from legal_edge.server.generation import ModelRuntime, Prepared, prepare
from legal_edge.server.grounding import Grounded, with_articles
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.settings.server import Settings

log = logging.getLogger("legal_edge.server")

# Excerpt lengths tried, longest first (fixed steps: the same budget gives the same prompt, and a
# small change in the measured speed seldom changes it).
STEPS = (180, 120, 90, 60, 40)
MIN_CHARS = STEPS[-1]
# The share of the time given to reading the prompt (and the guard's steps): the first decode
# step, retrieval, the HTTP round trip and the timing's own spread (±10 % between starts on one
# CPU) take the rest. 0.85 gave a p95 of 0.95-1.0 s with the guard on an AVX-512 EPYC
# (docs/measurements/2026-12-07-retrieval.md).
READ_SHARE = 0.75


def token_budget(runtime: ModelRuntime, settings: Settings, steps: int = 0) -> int | None:
    """Prompt tokens the backend reads within ``grounding_first_token_ms`` when ``steps``
    decode steps must also run before the first token is sent (the closed-book guard's
    opening); None: no limit (the setting is 0, or the backend did not measure its speed)."""
    rate = getattr(runtime.backend, "prompt_rate", None)
    if not rate or settings.grounding_first_token_ms <= 0:
        return None
    seconds = settings.grounding_first_token_ms / 1000 * READ_SHARE
    seconds -= steps * (getattr(runtime.backend, "decode_step_s", None) or 0.0)
    return max(0, int(rate * seconds))


def fit(
    body: ChatCompletionRequest,
    grounded: Grounded,
    prep: Prepared,
    runtime: ModelRuntime,
    settings: Settings,
    beside: int = 0,
    steps: int = 0,
) -> tuple[Grounded, Prepared]:
    """``grounded`` and its prepared request, with the articles cut to the token budget
    (unchanged when they fit); ``body`` is the request as sent, ``beside`` the prompt tokens
    read in the same steps before the first token and ``steps`` the decode steps run before it
    is sent (the closed-book guard's question and opening)."""
    budget = token_budget(runtime, settings, steps)
    if budget is not None:
        budget -= beside
    if budget is None or prep.prompt_tokens <= budget or not grounded.articles:
        return grounded, prep
    articles = list(grounded.articles)
    full = settings.grounding_article_chars or max(len(a.text) for a in articles)
    tries = [(len(articles), c) for c in STEPS if c < full]
    tries += [(n, min(full, MIN_CHARS)) for n in range(len(articles) - 1, 0, -1)]
    chars = full  # (no try: one article already at the shortest excerpt; it stays)
    for n, chars in tries:
        rewritten = with_articles(body, articles[:n], chars)
        grounded = replace(grounded, body=rewritten, articles=articles[:n])
        prep = prepare(rewritten, runtime, settings)
        if prep.prompt_tokens <= budget:
            break
    log.debug(
        "grounded prompt cut to %d tokens (budget %d): %d of %d articles, %d characters",
        prep.prompt_tokens, budget, len(grounded.articles), len(articles), chars,
    )  # fmt: skip
    return grounded, prep
