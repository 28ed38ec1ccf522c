"""Shared bits of the operations tests: an echo-model manifest and an in-process client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.models.manifest import ModelFile, ModelManifest
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, GEMMA_STOP
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from tests.conftest import MODELS_DIR


def echo_manifest(name: str = "echo-model", ctx: int = 256) -> ModelManifest:
    return ModelManifest(
        name=name,
        base_model="echo",
        files=[ModelFile("model", "none.gguf")],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=list(GEMMA_STOP),
        context_length=ctx,
        quantization="none",
        license="test",
    )


def echo_runtime(name: str, variant: str = "default") -> ModelRuntime:
    m = echo_manifest(name)
    return ModelRuntime(
        name=name, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=256)), variant=variant
    )


def client(
    db: Path | None, runtimes: list[ModelRuntime] | None = None, **settings_kw: object
) -> TestClient:
    settings = Settings(backend="echo", feedback_db=db, **settings_kw)  # type: ignore[arg-type]
    return TestClient(create_app(settings, runtimes=runtimes or [echo_runtime("echo-model")]))


def wait_ready(c: TestClient) -> None:
    for _ in range(200):
        if c.get("/health/ready").status_code == 200:
            return
        asyncio.run(asyncio.sleep(0.01))
    raise AssertionError("server not ready")


SHIPPED = "legal-gemma3-270m"


def shipped_settings(**overrides: Any) -> Settings:
    """The shipped model as installed (``models/``), 2 threads, and the articles whole whatever
    this machine's speed: the prompts the shipped-model tests chose their questions with
    (``prompt_budget`` is tested on its own). ``overrides``: any other setting."""
    base: dict[str, Any] = {"n_threads": 2, "grounding_first_token_ms": 0}
    return Settings(model=SHIPPED, models_dir=MODELS_DIR, **{**base, **overrides})


@contextlib.contextmanager
def loaded(settings: Settings, timeout: float = 300) -> Iterator[TestClient]:
    """An in-process client of the app on ``settings`` (a real model), once ``/health/ready``
    says the model and its statute index loaded (they load in the background); ``timeout``:
    seconds a request may take."""
    with TestClient(create_app(settings), timeout=timeout) as c:
        deadline = time.monotonic() + 300
        while c.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, f"{settings.model} did not load in 300 s"
            time.sleep(0.5)
        yield c


def chat(c: TestClient, content: str, model: str = "echo-model", **headers: str):
    return c.post(
        "/v1/chat/completions",
        headers=headers,
        json={"model": model, "messages": [{"role": "user", "content": content}]},
    )


def streamed(body: str) -> tuple[str, list[dict[str, Any]]]:
    """A streamed chat completion's text and its data chunks (``[DONE]`` left out)."""
    chunks = [
        json.loads(line[6:])
        for line in body.split("\n\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])
    return text, chunks
