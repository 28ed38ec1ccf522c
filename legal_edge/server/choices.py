"""``n > 1``: one request, n choices, each its own ``Generation`` (its own sequence in the
backend). The first choice starts alone, so its prompt is computed once; the others then copy
its whole prompt chunks in the llama.cpp engine (``Engine._copy_running``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from legal_edge.server.closed_book_guard import guard
from legal_edge.server.generation import Delta, Generation, Usage, for_choice
from legal_edge.server.grounded_generation import (
    GroundedGeneration,
    citations_of,
    grounding_of,
    new_generation,
)
from legal_edge.server.grounding import Library
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.settings.server import Settings


async def new_generations(
    body: ChatCompletionRequest | CompletionRequest,
    runtime: Any,
    settings: Settings,
    library: Library | None,
    metrics: Metrics,
) -> list[Generation]:
    """The request's ``n`` generations: grounded once, the same prompt for every choice; a
    guarded one decides once, for every choice (``closed_book_guard``)."""
    first = await new_generation(body, runtime, settings, library, metrics)
    if isinstance(body, ChatCompletionRequest):
        first = guard(first, body, settings, metrics)
    gens = [first]
    for i in range(1, body.n):
        gen: Generation
        if isinstance(first, GroundedGeneration):
            gen = first.choice(i)
        else:
            gen = Generation(for_choice(first.prep, i), metrics)
            gen.counts_prompt = False
        gens.append(gen)
    return gens


async def start_all(gens: list[Generation]) -> None:
    """Start the first choice (its prompt computed, its first token out, admission errors
    before any response); the others start as they are read (``collect_all``, ``merged``): a
    choice waiting for a slot must not hold up the ones that run."""
    await gens[0].start()


async def _deltas(i: int, g: Generation) -> AsyncIterator[Delta]:
    if i:
        await g.start()
    async for d in g.deltas():
        yield d


async def close_all(gens: list[Generation]) -> None:
    for g in gens:
        with contextlib.suppress(Exception):
            await g.close()


async def collect_all(gens: list[Generation]) -> list[str]:
    """Every choice's text (run together)."""

    async def one(i: int, g: Generation) -> str:
        return "".join([d.text async for d in _deltas(i, g)])

    try:
        return list(await asyncio.gather(*(one(i, g) for i, g in enumerate(gens))))
    except BaseException:
        await close_all(gens)
        raise


async def merged(gens: list[Generation]) -> AsyncIterator[tuple[int, Delta]]:
    """Every choice's deltas as they come, tagged with the choice's index; a choice's end is
    a ``Delta("", finish_reason)``."""
    if len(gens) == 1:
        async for d in gens[0].deltas():
            yield 0, d
        yield 0, Delta("", gens[0].finish_reason)
        return
    queue: asyncio.Queue[tuple[int, Delta] | BaseException | None] = asyncio.Queue()

    async def pump(i: int, g: Generation) -> None:
        try:
            async for d in _deltas(i, g):
                await queue.put((i, d))
            await queue.put((i, Delta("", g.finish_reason)))
        except Exception as exc:
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.ensure_future(pump(i, g)) for i, g in enumerate(gens)]
    open_ = len(tasks)
    try:
        while open_:
            item = await queue.get()
            if item is None:
                open_ -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await close_all(gens)


def usage(gens: list[Generation]) -> Usage:
    """The prompt once, the completion tokens of every choice."""
    return Usage(
        prompt_tokens=gens[0].usage.prompt_tokens,
        completion_tokens=sum(g.usage.completion_tokens for g in gens),
    )


def extensions(gens: list[Generation]) -> dict[str, Any]:
    """The response's fields beyond OpenAI's, once every choice has ended: ``citations`` and
    ``grounding`` for a grounded answer, none otherwise."""
    cites = citations(gens)
    if cites is None:
        return {}
    return {"citations": cites, "grounding": grounding_of(gens[0])}


def citations(gens: list[Generation]) -> list[dict[str, Any]] | None:
    """The response's ``citations``: those of every choice, each once."""
    lists = [citations_of(g) for g in gens]
    if lists[0] is None:
        return None
    seen: set[str] = set()
    out = []
    for c in (c for cs in lists for c in cs or []):
        key = json.dumps(c, sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
