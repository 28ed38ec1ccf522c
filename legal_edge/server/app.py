"""The app factory: ``create_app(settings, backend=None) -> Litestar``. No globals.

The backend is loaded in the lifespan (in the background, so ``/health/ready`` can answer 503
while it loads) and reached by handlers through dependency injection. Where the rest lives:
``routes`` (the handlers and the request path), ``responders`` (JSON and stream answers),
``accounting`` (metrics, access log, feedback row per request), ``shapes`` (response objects),
``state`` (what the process holds), ``auth`` (API keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from legal_edge import __version__
from legal_edge.backends import create_backend
from legal_edge.backends.base import Backend
from legal_edge.feedback import FeedbackStore
from legal_edge.models.manifest import ModelManifest, resolve_model
from legal_edge.models.merged_build import select_form, served_form
from legal_edge.server import error_docs, routes
from legal_edge.server.ab import ab_split
from legal_edge.server.auth import api_key_guard
from legal_edge.server.errors import EXCEPTION_HANDLERS
from legal_edge.server.feedback_api import create_feedback
from legal_edge.server.generation import ModelRuntime
from legal_edge.server.gpu import register_gpu_metrics
from legal_edge.server.grounding import Library
from legal_edge.server.state import ServerState, provide_state
from legal_edge.server.statutes import HANDLERS as statute_handlers
from legal_edge.settings.server import Settings
from legal_edge.web import chat_router


def load_runtime(
    settings: Settings, name: str | None = None, variant: str = "default"
) -> ModelRuntime:
    """Resolve ``settings.model`` (or ``name``), pick its form (``settings.model_form``: the
    merged build or base + adapter) and build its backend (not yet started)."""
    manifest: ModelManifest = resolve_model(name or settings.model, settings.models_dir)
    manifest = select_form(manifest, settings.model_form)
    manifest.verify_files(check_hash=True)  # a replaced or damaged file is refused at start
    backend = create_backend(settings.backend, manifest, settings.backend_opts())
    return ModelRuntime(name=manifest.name, manifest=manifest, backend=backend, variant=variant)


def create_app(
    settings: Settings, backend: Backend | None = None, runtimes: list[ModelRuntime] | None = None
) -> Litestar:
    """Build the app. ``backend`` (tests) serves ``settings.model``'s manifest; ``runtimes``
    serves several models (A/B); by default the backend is built from the settings."""
    if runtimes is None:
        if backend is not None:
            runtimes = [
                ModelRuntime(name=backend.manifest.name, manifest=backend.manifest, backend=backend)
            ]
        else:
            runtimes = [load_runtime(settings)]
    state = ServerState(
        settings=settings,
        models={rt.name: rt for rt in runtimes},
        ab=ab_split(settings, runtimes),
        library=Library(settings, {rt.name: rt.manifest for rt in runtimes}),
    )
    _describe_models(state)
    v1 = Router(
        path="/v1",
        route_handlers=[
            routes.chat_completions,
            routes.completions,
            routes.list_models,
            routes.get_model,
            create_feedback,
            *statute_handlers,
        ],
        guards=[api_key_guard(settings.api_keys)],
    )
    # metrics_require_key: /metrics behind the same keys (Prometheus sends one)
    metrics_guards = [api_key_guard(settings.api_keys)] if settings.metrics_require_key else []
    metrics_router = Router(path="/", route_handlers=[routes.metrics], guards=metrics_guards)
    return Litestar(
        route_handlers=[v1, routes.live, routes.ready, metrics_router, chat_router],
        dependencies={"server": Provide(provide_state)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[_lifespan(state)],
        on_startup=[error_docs.document_contract],
        state=State({"server": state}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="legal-edge", version=__version__, path="/schema"),
        debug=False,
    )


def _describe_models(state: ServerState) -> None:
    """The metrics that say what this process serves: queue capacity and model info."""
    register_gpu_metrics(state.metrics.registry)
    for rt in state.models.values():
        state.metrics.queue_capacity.labels(model=rt.name).set(state.settings.max_queue)
        state.metrics.model_info.labels(model=rt.name).info(
            {
                "base_model": rt.manifest.base_model,
                "quantization": str(rt.manifest.quantization),
                "form": served_form(rt.manifest),
                "variant": rt.variant,
                "backend": state.settings.backend,
                "version": __version__,
            }
        )


async def _load(state: ServerState) -> None:
    """Open the statute library and start every model; a failure is kept for /health/ready."""
    try:
        if state.library is not None:  # one open, warmed index per process
            await asyncio.to_thread(state.library.open)
        for rt in state.models.values():
            await rt.backend.start()
        state.loaded = True
    except Exception as exc:
        logging.getLogger("legal_edge.server").exception("model load failed")
        state.load_error = f"{type(exc).__name__}: {exc}"


def _lifespan(
    state: ServerState,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        settings = state.settings
        if settings.feedback_db is not None:
            state.feedback = FeedbackStore(
                settings.feedback_db, settings.response_retention_days, settings.request_log_days
            )
        task = asyncio.create_task(_load(state))
        try:
            yield
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for rt in state.models.values():
                with contextlib.suppress(Exception):
                    await rt.backend.stop()
            if state.feedback is not None:
                state.feedback.close()
                state.feedback = None
            if state.library is not None:
                state.library.close()

    return lifespan
