"""The llama.cpp backend behind the real HTTP server (uvicorn), on the tiny GGUF: a full server
answers 503 + Retry-After, health answers while generating, a disconnect frees the sequence."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.models.manifest import gguf_manifest
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.legal_edge.backends.test_llamacpp import HOG

pytest.importorskip("llama_cpp")

from legal_edge.backends.llamacpp.backend import LlamaCppBackend  # noqa: E402


def wait_until(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_full_server_503_health_and_disconnect(tiny_gguf: Path) -> None:
    opts = BackendOptions(n_threads=1, n_parallel=1, n_ctx=2048, max_queue=0, queue_timeout_s=7)
    backend = LlamaCppBackend(gguf_manifest(tiny_gguf), opts)
    app = create_app(Settings(model=str(tiny_gguf), max_queue=0), backend=backend)
    body = {
        "model": backend.manifest.name,
        "prompt": HOG,
        "max_tokens": 2000,
        "stream": True,
        "temperature": 0,
    }
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as other:
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=30) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            assert backend.stats()["running"] == 1
            assert other.get("/health/ready").status_code == 200
            assert backend.stats()["running"] == 1  # answered while the stream still runs
            full = other.post("/v1/completions", json={**body, "stream": False, "max_tokens": 4})
            assert full.status_code == 503
            assert full.headers["Retry-After"] == "7"
        # the client hung up mid-stream: the sequence is freed, the slot serves the next one
        assert wait_until(lambda: backend.stats() == {"running": 0, "waiting": 0})
        ok = other.post("/v1/completions", json={**body, "stream": False, "max_tokens": 4})
        assert ok.status_code == 200
        assert ok.json()["usage"]["completion_tokens"] <= 4
