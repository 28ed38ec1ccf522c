"""The servers the drills run against: the echo backend behind the real app and real uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
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
