"""The servers the drills run against: the echo backend behind the real app and real uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings import Settings
from tests.legal_edge.helpers import echo_manifest

MODEL = "echo-model"
API_KEY = "drill-key-0123456789"


def echo_app(
    *,
    delay_s: float = 0.0,
    n_parallel: int = 4,
    max_queue: int = 4,
    ctx: int = 256,
    feedback_db: Path | None = None,
    **settings_kw: Any,
) -> Litestar:
    """The production app factory over the echo backend (``delay_s`` per word)."""
    settings = Settings(
        backend="echo",
        n_parallel=n_parallel,
        max_queue=max_queue,
        feedback_db=feedback_db,
        **settings_kw,
    )
    opts = BackendOptions(
        n_ctx=ctx, n_parallel=n_parallel, max_queue=max_queue, extra={"echo_delay_s": delay_s}
    )
    return create_app(settings, backend=EchoBackend(echo_manifest(MODEL, ctx), opts))


@contextlib.contextmanager
def uvicorn_server(app: Any, http: Any = "auto", timeout: float = 60.0) -> Iterator[str]:
    """Like ``tests.fixtures.live_server``, with the h11 protocol ``serve`` uses (``http``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"server at {url} did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
