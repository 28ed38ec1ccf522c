"""A generation whose backend stops sending ends at the request's deadline with the API's 504,
before the first token and between tokens, and the backend's stream is closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from legal_edge.backends.base import GenerationRequest, SamplingParams, TokenChunk
from legal_edge.server.errors import APIError
from legal_edge.server.generation import Generation, Prepared
from legal_edge.server.metrics import Metrics


class Stalling:
    """Sends ``tokens`` chunks, then nothing more until it is closed."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.closed = False

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        try:
            for i in range(self.tokens):
                yield TokenChunk("x", 3, i + 1)
            await asyncio.sleep(10)  # past the test's bound: a missed deadline fails it
        finally:
            self.closed = True


def generation(backend: Stalling, seconds: float) -> Generation:
    runtime = SimpleNamespace(backend=backend, name="m", variant="a")
    prep = Prepared(
        request_id="r", runtime=runtime, prompt="p", params=SamplingParams(), stops=(),
        prompt_tokens=3, deadline=time.monotonic() + seconds,
    )  # type: ignore[arg-type]  # fmt: skip
    return Generation(prep, Metrics())


def test_no_first_token_before_the_deadline_is_a_504() -> None:
    backend = Stalling(0)

    async def scenario() -> None:
        with pytest.raises(APIError) as err:
            await generation(backend, 0.2).start()
        assert err.value.status == 504

    started = time.monotonic()
    asyncio.run(scenario())
    assert 0.15 < time.monotonic() - started < 5
    assert backend.closed


def test_a_stream_that_stalls_ends_at_the_deadline() -> None:
    backend = Stalling(2)

    async def scenario() -> list[str]:
        gen = generation(backend, 0.3)
        await gen.start()
        texts = []
        with pytest.raises(Exception) as err:
            async for delta in gen.deltas():
                texts.append(delta.text)
        assert type(err.value).__name__ == "DeadlineExceeded"
        return texts

    started = time.monotonic()
    assert asyncio.run(scenario()) == ["x", "x"]
    assert time.monotonic() - started < 5
    assert backend.closed
