"""A chat completion run with grounding: the model's text passed through the citation guard,
the ``citations`` list at the end, or the "nothing found" answer without the model at all.

Both are ``Generation``s to the request handler, so JSON and streamed responses, metrics,
disconnects and the feedback store work as for any other request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

from legal_edge.backends.base import SamplingParams, TokenLogprob
from legal_edge.server import prompt_budget
from legal_edge.server.generation import (
    Delta,
    Generation,
    ModelRuntime,
    Prepared,
    Usage,
    for_choice,
    new_id,
    prepare,
)
from legal_edge.server.grounding import Grounded, Library, ground, guarded
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.settings.server import Settings
from legal_edge.statutes.cite_grammar import citation_grammar
from legal_edge.statutes.flags import Mark
from legal_edge.statutes.prompt import ArticleLike, article_heading, nothing_found_answer


class GroundedGeneration(Generation):
    """The model's answer with unverified citations marked (setting
    ``flag_unverified_citations``), misattributed ones corrected or marked (setting
    ``misattributed_citations``) and, once it has ended, its ``citations``."""

    def __init__(
        self,
        inner: Generation,
        grounded: Grounded,
        outcome: str = "grounded",
        closed_book_prep: Prepared | None = None,
    ) -> None:
        # Not Generation.__init__: the inner generation already holds the backend stream.
        self.inner = inner
        self.grounded = grounded
        self.outcome = outcome  # the response's grounding.outcome (metrics' grounding outcome)
        # the request as asked, prepared (no articles): what the closed-book guard runs
        self.closed_book_prep = closed_book_prep
        self.prep = inner.prep
        self.metrics = inner.metrics
        self.usage = inner.usage
        self.finish_reason = inner.finish_reason
        self.answer = ""  # the model's own text, before any mark
        self.marks: list[Mark] = []  # the marks the client's text has in it
        self._citations: list[dict[str, Any]] | None = None
        # automation (tools, JSON output) is never grounded (grounding.is_automation)
        self.tool_filter = None

    @property  # type: ignore[override]
    def logprobs(self) -> list[TokenLogprob]:
        return self.inner.logprobs

    @logprobs.setter
    def logprobs(self, value: list[TokenLogprob]) -> None:
        self.inner.logprobs = value

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def deltas(self) -> AsyncIterator[Delta]:
        g = self.grounded
        guard = g.guard() if g.flag else None
        raw: list[str] = []
        held: list[TokenLogprob] = []  # logprobs of text the guard still holds back
        try:
            async for delta in self.inner.deltas():
                raw.append(delta.text)
                held.extend(delta.logprobs)
                text = guard.push(delta.text) if guard else delta.text
                if text:
                    yield Delta(text, logprobs=tuple(held))
                    held.clear()
            rest = guard.flush() if guard else ""
            if rest or held:
                yield Delta(rest, logprobs=tuple(held))
        finally:
            self.answer = "".join(raw)
            self.marks = guard.marks if guard else []
            self.finish_reason = self.inner.finish_reason

    def choice(self, index: int) -> GroundedGeneration:
        """Choice ``index`` of an ``n > 1`` request: the same grounded prompt, its own sequence."""
        inner = Generation(for_choice(self.inner.prep, index), self.metrics)
        inner.counts_prompt = False  # the first choice counts the shared prompt
        return GroundedGeneration(inner, self.grounded, self.outcome, self.closed_book_prep)

    def grounding(self) -> dict[str, Any]:
        """The response's ``grounding``: how this answer was grounded (``outcome``)."""
        return {"outcome": self.outcome}

    def citations(self) -> list[dict[str, Any]]:
        """The response's ``citations`` (once the answer has ended), counted once."""
        if self._citations is None:
            self._citations = self.grounded.citations(self.answer, self.marks)
            model = self.prep.runtime.name
            for c in self._citations:
                if c["verified"] is not None:
                    self.metrics.citations.labels(model, str(c["verified"]).lower()).inc()
        return self._citations


class NothingFound(GroundedGeneration):
    """The answer when retrieval found nothing relevant: fixed text, no model, no tokens."""

    def __init__(self, runtime: ModelRuntime, grounded: Grounded, metrics: Metrics) -> None:
        self.grounded = grounded
        self.prep = Prepared(
            request_id=new_id("chatcmpl"),
            runtime=runtime,
            prompt="",
            params=SamplingParams(max_tokens=1),
            stops=(),
            prompt_tokens=0,
            deadline=time.monotonic(),
        )
        self.metrics = metrics
        self.outcome = "nothing_found"
        self.closed_book_prep = None
        self.usage = Usage()
        self.finish_reason = "stop"
        self.answer = nothing_found_answer()
        self.marks = []
        self._citations = None
        self.tool_filter = None
        self._logprobs: list[TokenLogprob] = []

    @property  # type: ignore[override]
    def logprobs(self) -> list[TokenLogprob]:
        return self._logprobs  # no model ran: nothing to report

    @logprobs.setter
    def logprobs(self, value: list[TokenLogprob]) -> None:
        self._logprobs = value

    def choice(self, index: int) -> NothingFound:
        return NothingFound(self.prep.runtime, self.grounded, self.metrics)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deltas(self) -> AsyncIterator[Delta]:
        yield Delta(self.answer)


async def new_generation(
    body: ChatCompletionRequest | CompletionRequest,
    runtime: ModelRuntime,
    settings: Settings,
    library: Library | None,
    metrics: Metrics,
) -> Generation:
    """The generation for a request: grounded when it is a chat completion for a grounded
    model (retrieval, the rewritten question, checked citations), else a plain one."""
    # Refuse first (context length, fields, 503 while loading): the request as sent must fit
    # before retrieval spends anything on it, and grounding only makes the prompt longer.
    plain = prepare(body, runtime, settings)
    if not isinstance(body, ChatCompletionRequest):
        return Generation(plain, metrics)
    grounded = await ground(body, runtime.name, library, settings)
    if grounded is None:
        return Generation(plain, metrics)
    if grounded.nothing_found:
        metrics.grounding.labels(runtime.name, "nothing_found").inc()
        return NothingFound(runtime, grounded, metrics)
    outcome = "grounded" if grounded.articles else "retrieval_off"
    metrics.grounding.labels(runtime.name, outcome).inc()
    prep = plain if grounded.body is body else prepare(grounded.body, runtime, settings)
    # the closed-book guard reads the question as sent beside the grounded prompt, and decides
    # on its opening's tokens before the first one is sent
    guard = guarded(settings, grounded)
    beside = plain.prompt_tokens if guard else 0
    steps = settings.grounding_guard_tokens if guard else 0
    grounded, prep = prompt_budget.fit(body, grounded, prep, runtime, settings, beside, steps)
    prep = constrain_citations(prep, grounded, settings)
    return GroundedGeneration(Generation(prep, metrics), grounded, outcome, plain)


def constrain_citations(prep: Prepared, grounded: Grounded, settings: Settings) -> Prepared:
    """With ``citation_mode: constrained``, a backend that enforces grammars decodes the answer
    under the grammar of the given headings (``cite_grammar``); otherwise ``prep`` as it is."""
    features: frozenset[str] = getattr(prep.runtime.backend, "features", frozenset())
    if (
        settings.citation_mode != "constrained"
        or not grounded.articles
        or "grammar" not in features
        or prep.params.grammar is not None
    ):
        return prep
    given = cast(list[ArticleLike], grounded.articles)  # frozen records, as in grounding.ground
    grammar = citation_grammar([article_heading(a) for a in given])
    return replace(prep, params=replace(prep.params, grammar=grammar))


def citations_of(gen: Generation) -> list[dict[str, Any]] | None:
    """The ``citations`` of a finished generation, None when it was not grounded."""
    return gen.citations() if isinstance(gen, GroundedGeneration) else None


def grounding_of(gen: Generation) -> dict[str, Any] | None:
    """The ``grounding`` of a generation's response, None when it was not grounded."""
    return gen.grounding() if isinstance(gen, GroundedGeneration) else None
