"""Bad input is refused before any work that grows with it: a grounded chat request whose prompt
cannot fit the context gets its 400 before retrieval runs, and retrieval's own cost is capped
whatever the message's length. Real parts: llama.cpp on the tiny GGUF (its tokenizer counts the
prompt), the small real statute index, the app in-process."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.models.manifest import gguf_manifest
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from legal_edge.statutes.index import SearchParams, StatuteIndex
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import wait_ready

pytestmark = pytest.mark.slow  # builds the small index

HUGE = "法" * 200_000  # a 600 KB body: the message
SERVER_MS = 100  # the time refusing it may take (CPU; wall time on a busy box: 10x)


@pytest.fixture(scope="module")
def grounded_tiny(
    tiny_gguf: Path,
    small_statute_index: Path,  # noqa: F811
) -> Iterator[tuple[TestClient, list[str]]]:
    """The app on the tiny GGUF grounded in the small index, and the queries search received."""
    from legal_edge.backends.llamacpp.backend import LlamaCppBackend

    manifest = gguf_manifest(tiny_gguf)
    manifest.statutes_index = str(small_statute_index)
    backend = LlamaCppBackend(manifest, BackendOptions(n_threads=1, n_parallel=1, n_ctx=8192))
    runtime = ModelRuntime(name=manifest.name, manifest=manifest, backend=backend)
    settings = Settings(grounding_min_score=0.0)
    queries: list[str] = []
    search = StatuteIndex.search

    def recorded(self: StatuteIndex, query: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(query)
        return search(self, query, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(StatuteIndex, "search", recorded)
    try:
        with TestClient(create_app(settings, runtimes=[runtime])) as c:
            wait_ready(c)
            yield c, queries
    finally:
        mp.undo()


def _ask(c: TestClient, content: str) -> Any:
    body = {
        "model": c.get("/v1/models").json()["data"][0]["id"],
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 2,
    }
    return c.post("/v1/chat/completions", json=body)


def test_a_message_that_cannot_fit_is_refused_before_retrieval(
    grounded_tiny: tuple[TestClient, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    c, queries = grounded_tiny
    r = _ask(c, "盗窃财物数额较大怎么处罚？")
    assert r.status_code == 200, r.text  # the same app grounds a question that fits
    assert queries and r.json()["citations"]
    queries.clear()
    with caplog.at_level(logging.INFO, logger="legal_edge.access"):
        cpu = time.process_time()  # every thread of this process: the app's and the client's
        r = _ask(c, HUGE)
        cpu = time.process_time() - cpu
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert queries == []  # retrieval never saw it
    # CPU time, not wall clock: seven engineers share two cores, and a busy box stretches a
    # refusal's wall time without the refusal doing more work (uncapped: minutes of CPU).
    assert cpu < SERVER_MS / 1000, f"{cpu * 1000:.0f} ms of CPU for the refusal"
    # the server's own wall time from routing to the refusal (its access-log line), loosely
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "legal_edge.access"]
    refused = [x for x in lines if x.get("event") == "request" and x["status"] == 400]
    assert len(refused) == 1
    assert refused[0]["duration_ms"] < 10 * SERVER_MS, refused[0]


def test_search_cost_is_capped_whatever_the_query_length(
    small_statute_index: Path,  # noqa: F811
) -> None:
    ix = StatuteIndex(small_statute_index)
    ix.warm()
    question = "公司拖欠工资，劳动者可以解除劳动合同吗？盗窃财物数额较大怎么处罚？"
    long = question + "侵权损害赔偿，合同违约责任，公司股东出资。" * 10_000  # 210,000 characters
    p = ix.params
    assert len(ix.query_terms(long)) <= p.max_terms
    assert ix.query_terms(long) == ix.query_terms(long[: p.query_chars])
    # the capped long query ranks like its first query_chars characters
    got = [(a.law, a.number) for a in ix.search(long, 5)]
    assert got == [(a.law, a.number) for a in ix.search(long[: p.query_chars], 5)]
    t = time.process_time()  # CPU time of this process: a busy box does not inflate it
    ix.search(long, 5)
    assert time.process_time() - t < 0.5
    # the caps are settings: fewer terms, fewer scored
    tight = StatuteIndex(small_statute_index, SearchParams(max_terms=3))
    assert len(tight.query_terms(long)) == 3
