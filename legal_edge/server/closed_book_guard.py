"""The closed-book guard of grounded answers: the model's own judgement of a question, kept.

Asked closed-book, the shipped model refuses every held-out harmful request; with statute
articles put before the same requests it helps with most of them (its training paired articles
only with helpful consultations; docs/measurements/2026-12-07-fixed-answer.md). So a grounded
question is also put to the model *as asked* (the original messages, no articles), greedily, as a
second sequence in the same engine batch as the grounded prompt. The closed-book prompt is short:
its first ``grounding_guard_tokens`` tokens are ready about when the grounded prompt's first token
is. If that opening is a refusal (``legal_edge.safety.refusal``, the detector the evaluation
counts with), the client gets the closed-book answer, streamed on to its end, with no articles as
sources and ``grounding.outcome: refused_closed_book``, and the grounded sequence is cancelled;
otherwise the grounded answer, and the closed-book sequence is cancelled. Nothing is sent before
the decision: it is made in ``start``, before any response begins.

The evaluation applies the same decision (``grounding.guarded``, ``opening_refuses``,
``closed_book``) in ``recipes/evaluate/served.py``, so its grounded safety figures are the
server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from legal_edge.backends.base import TokenLogprob
from legal_edge.safety.refusal import RefusalVerdict, detect_refusal
from legal_edge.server.generation import Delta, Generation, Prepared, Usage
from legal_edge.server.grounded_generation import GroundedGeneration, NothingFound
from legal_edge.server.grounding import Grounded, guarded
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.server.tool_calls import ToolCallFilter
from legal_edge.settings.server import Settings

REFUSED = "refused_closed_book"  # grounding.outcome of an answer the guard replaced


def opening_refuses(opening: str) -> RefusalVerdict:
    """The guard's decision on the opening of the closed-book answer."""
    return detect_refusal(opening)


def closed_book(grounded: Grounded, body: ChatCompletionRequest) -> Grounded:
    """The grounding of a guard refusal: the request as asked, no article given (citations
    the refusal makes are still checked, as with retrieval off)."""
    return replace(grounded, body=body, articles=[], nothing_found=False)


def guard(
    gen: Generation, body: ChatCompletionRequest, settings: Settings, metrics: Metrics
) -> Generation:
    """``gen`` behind the closed-book guard when it applies, else ``gen`` as it is."""
    if (
        not isinstance(gen, GroundedGeneration)
        or isinstance(gen, NothingFound)
        or gen.closed_book_prep is None
        or not guarded(settings, gen.grounded)
    ):
        return gen
    prep = gen.closed_book_prep
    probe = replace(
        prep,
        request_id=f"{gen.prep.request_id}-closed-book",  # vLLM needs distinct ids
        params=replace(prep.params, temperature=0.0),  # the model's own most likely answer
    )
    inner = Generation(probe, metrics)
    inner.timed = False  # no client waits for these tokens unless the guard serves them
    closed = GroundedGeneration(inner, closed_book(gen.grounded, body), REFUSED)
    return GuardedGeneration(gen, closed, settings.grounding_guard_tokens)


async def _cancel(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _then(read: list[Delta], rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    """The deltas already read, then the rest of the stream."""
    for d in read:
        yield d
    async for d in rest:
        yield d


class GuardedGeneration(GroundedGeneration):
    """A grounded answer held back until the closed-book opening has been read; the
    closed-book answer instead when that opening refuses. Reads as the answer it serves."""

    def __init__(
        self,
        grounded_gen: GroundedGeneration,
        closed_gen: GroundedGeneration,
        tokens: int,
        leader: GuardedGeneration | None = None,
    ) -> None:
        # Not GroundedGeneration.__init__: each of the two holds its own backend stream.
        self.grounded_gen = grounded_gen
        self.closed_gen = closed_gen
        self.tokens = tokens
        self.leader = leader  # n > 1: the first choice, whose decision the others follow
        self.metrics = grounded_gen.metrics
        self.chosen: GroundedGeneration = grounded_gen
        self.verdict: RefusalVerdict | None = None
        self._opening: list[Delta] = []  # the closed-book deltas read to decide
        self._rest: AsyncIterator[Delta] | None = None  # the closed-book deltas after them
        self._t0 = time.monotonic()

    # -- the served answer's fields -------------------------------------------------------------
    @property
    def refused(self) -> bool:
        return self.verdict is not None and self.verdict.refused

    @property
    def prep(self) -> Prepared:  # type: ignore[override]
        return self.chosen.prep

    @property
    def usage(self) -> Usage:  # type: ignore[override]
        return self.chosen.usage

    @property
    def finish_reason(self) -> str | None:  # type: ignore[override]
        return self.chosen.finish_reason

    @property
    def logprobs(self) -> list[TokenLogprob]:  # type: ignore[override]
        return self.chosen.logprobs

    @logprobs.setter
    def logprobs(self, value: list[TokenLogprob]) -> None:
        self.chosen.logprobs = value

    @property
    def prompt_logprobs(self) -> tuple[TokenLogprob, ...]:  # type: ignore[override]
        return self.chosen.prompt_logprobs

    @property
    def tool_filter(self) -> ToolCallFilter | None:  # type: ignore[override]
        return None  # automation is never grounded (grounding.is_automation)

    @property
    def grounded(self) -> Grounded:  # type: ignore[override]
        return self.chosen.grounded

    @property
    def outcome(self) -> str:  # type: ignore[override]
        return self.chosen.outcome

    def citations(self) -> list[dict[str, Any]]:
        return self.chosen.citations()

    def choice(self, index: int) -> GuardedGeneration:
        """Choice ``index`` of an ``n > 1`` request: started after this one has decided, it
        serves the grounded or the closed-book answer as this one does."""
        return GuardedGeneration(
            self.grounded_gen.choice(index), self.closed_gen.choice(index), self.tokens, self
        )

    # -- running --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.leader is not None:
            await self._follow()
            return
        # the closed-book sequence is submitted first: with a single free slot it runs (and is
        # cancelled or served) before the grounded prompt, instead of after its whole answer
        probe = asyncio.ensure_future(self._read_opening())
        grounded = asyncio.ensure_future(self.grounded_gen.start())
        try:
            self.verdict = opening_refuses(await probe)
            model = self.grounded_gen.prep.runtime.name
            decision = "refused" if self.refused else "passed"
            self.metrics.grounding_guard.labels(model, decision).inc()
            if self.refused:
                self.chosen = self.closed_gen
                await _cancel(grounded)
                await self.grounded_gen.close()
            else:
                await self._drop_closed_book()
                await grounded
        except BaseException:
            await _cancel(probe)
            await _cancel(grounded)
            await self.close()
            raise

    async def _read_opening(self) -> str:
        """The closed-book answer's first ``tokens`` tokens (fewer when it ends before)."""
        gen = self.closed_gen
        await gen.start()
        self._rest = gen.deltas()
        while gen.usage.completion_tokens < self.tokens:
            try:
                self._opening.append(await anext(self._rest))
            except StopAsyncIteration:
                break
        return "".join(d.text for d in self._opening)

    async def _drop_closed_book(self) -> None:
        if self._rest is not None:
            with contextlib.suppress(Exception):
                await self._rest.aclose()  # type: ignore[attr-defined]
        await self.closed_gen.close()

    async def _follow(self) -> None:
        assert self.leader is not None
        self.verdict = self.leader.verdict
        keep, drop = (
            (self.closed_gen, self.grounded_gen)
            if self.refused
            else (self.grounded_gen, self.closed_gen)
        )
        await drop.close()  # never started: nothing reached the backend
        self.chosen = keep
        await keep.start()

    async def close(self) -> None:
        await self.grounded_gen.close()
        await self._drop_closed_book()

    async def deltas(self) -> AsyncIterator[Delta]:
        if self.chosen is self.grounded_gen:
            async for d in self.grounded_gen.deltas():
                yield d
            return
        rest = self._rest if self._rest is not None else self.closed_gen.deltas()
        first = self.leader is None  # the leader's probe was not timed: its first token is now
        async for d in _then(self._opening, rest):
            if first:
                self._observe_first_token()
                first = False
            yield d

    def _observe_first_token(self) -> None:
        inner = self.closed_gen.inner
        labels = {"model": inner.prep.runtime.name, "variant": inner.prep.runtime.variant}
        self.metrics.ttft.labels(**labels).observe(time.monotonic() - self._t0)
        inner.timed = True  # the tokens after it: inter-token latency as for any answer
