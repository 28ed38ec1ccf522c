"""Every response is counted: in `legal_edge_requests_total` and in the access log, whatever its
status, so the 5xx alert rules see every failure (a 404 and an unexpected 500 used to escape)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions, GenerationRequest, TokenChunk
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from tests.legal_edge.helpers import echo_manifest, wait_ready


class Broken(EchoBackend):
    """Fails with a bug (not a backend error) before or after its first token."""

    def __init__(self, after_first: bool) -> None:
        super().__init__(echo_manifest("broken"), BackendOptions(n_ctx=256))
        self.after_first = after_first

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        if self.after_first:
            yield TokenChunk("x", 3, 1)
        raise RuntimeError("a bug in the backend")


def requests_total(c: TestClient, model: str, status: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith("legal_edge_requests_total{") and f'model="{model}"' in line:
            if f'status="{status}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class AccessLog(logging.Handler):
    """The access log's records (Litestar's logging setup replaces the root handlers, so
    pytest's caplog does not see them)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def __enter__(self) -> AccessLog:
        logger = logging.getLogger("legal_edge.access")
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("legal_edge.access")
        logger.removeHandler(self)
        logger.setLevel(self._level)


@pytest.mark.parametrize("after_first", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_an_unexpected_failure_is_a_counted_500(after_first: bool, stream: bool) -> None:
    backend = Broken(after_first)
    runtime = ModelRuntime(name="broken", manifest=backend.manifest, backend=backend)
    app = create_app(Settings(backend="echo"), runtimes=[runtime])
    body = {"model": "broken", "stream": stream, "messages": [{"role": "user", "content": "q"}]}
    with AccessLog() as access, TestClient(app) as c:
        wait_ready(c)
        r = c.post("/v1/chat/completions", json=body)
        if stream and after_first:  # the status line went out with the first token
            assert r.status_code == 200 and '"internal_error"' in r.text
        else:
            assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert requests_total(c, "broken", "500") == 1
    assert [line["status"] for line in access.lines] == [500]


def test_an_unknown_model_is_a_counted_404() -> None:
    backend = EchoBackend(echo_manifest("echo-model"), BackendOptions(n_ctx=256))
    app = create_app(Settings(backend="echo"), backend=backend)
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "q"}]}
    with AccessLog() as access, TestClient(app) as c:
        wait_ready(c)
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        # counted under a fixed label: a client's text never becomes a metric label
        assert requests_total(c, "(unknown)", "404") == 1
        assert "gpt-4" not in c.get("/metrics").text
    assert [(line["status"], line["model"]) for line in access.lines] == [(404, "(unknown)")]
