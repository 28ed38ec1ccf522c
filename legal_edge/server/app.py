"""The app factory: ``create_app(settings, backend=None) -> Litestar``. No globals.

The backend is loaded in the lifespan (in the background, so ``/health/ready`` can answer 503
while it loads) and reached by handlers through dependency injection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from legal_edge import __version__
from legal_edge.backends import create_backend
from legal_edge.backends.base import Backend
from legal_edge.feedback import FeedbackStore
from legal_edge.models.manifest import ModelManifest, resolve_model
from legal_edge.models.merged_build import select_form, served_form
from legal_edge.models.vllm_form import vllm_form
from legal_edge.server import choices, error_docs
from legal_edge.server.ab import ABSplit, ab_split, sticky_key
from legal_edge.server.errors import EXCEPTION_HANDLERS, APIError
from legal_edge.server.feedback_api import create_feedback, store_response
from legal_edge.server.generation import (
    Delta,
    Generation,
    ModelRuntime,
    map_backend_error,
)
from legal_edge.server.gpu import register_gpu_metrics
from legal_edge.server.grounding import Library
from legal_edge.server.logprobs import chat_logprobs, text_logprobs
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.server.statutes import HANDLERS as statute_handlers
from legal_edge.settings.server import Settings
from legal_edge.web import chat_router

log = logging.getLogger("legal_edge.access")
UNKNOWN_MODEL = "(unknown)"  # metrics label of requests naming no served model


@dataclass
class ServerState:
    settings: Settings
    models: dict[str, ModelRuntime]
    metrics: Metrics = field(default_factory=Metrics)
    load_error: str | None = None
    loaded: bool = False
    feedback: FeedbackStore | None = None  # opened in the lifespan when settings.feedback_db
    ab: ABSplit | None = None
    library: Library | None = None  # statute indexes: grounded answers, /v1/statutes/*

    def runtime(self, name: str, key: str = "") -> ModelRuntime:
        if self.ab is not None:
            name = self.ab.route(name, key)  # A's name -> A or B, sticky per client key
        try:
            return self.models[name]
        except KeyError:
            raise APIError(
                404,
                f"The model {name!r} does not exist; available: {', '.join(self.models)}",
                code="model_not_found",
                param="model",
            ) from None


def _json_sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"


def access_log(state: ServerState, **fields: Any) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(json.dumps({"event": "request", **fields}, ensure_ascii=False))


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    """Return when the client goes away (the body has been read, so receive() only waits)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _collect_or_cancel(request: Request[Any, Any, Any], gens: list[Generation]) -> list[str]:
    """Run a non-streaming request's choices; a client disconnect cancels them, frees slots."""
    work = asyncio.ensure_future(choices.collect_all(gens))
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            await choices.close_all(gens)
            raise asyncio.CancelledError("client disconnected")
    return work.result()


async def _run(
    request: Request[Any, Any, Any],
    state: ServerState,
    body: ChatCompletionRequest | CompletionRequest,
    route: str,
    render_chunk: Callable[[str, ModelRuntime, Delta | None, Generation], dict[str, Any]],
    render_full: Callable[[str, ModelRuntime, str, Generation], dict[str, Any]],
) -> Response[Any] | Stream:
    t0 = time.monotonic()
    try:
        runtime = state.runtime(body.model, sticky_key(request, state.ab))
    except APIError as exc:  # unknown model: counted too, under a fixed label (no client text)
        labels = {"model": UNKNOWN_MODEL, "variant": "none", "route": route}
        state.metrics.requests.labels(**labels, status=str(exc.status)).inc()
        state.metrics.request_duration.labels(**labels, status=str(exc.status)).observe(
            time.monotonic() - t0
        )
        access_log(state, route=route, model=UNKNOWN_MODEL, status=exc.status, stream=body.stream)
        raise
    labels = {"model": runtime.name, "variant": runtime.variant, "route": route}

    def done(status: int, gens: list[Generation] | None, text: str | None = None) -> None:
        elapsed = time.monotonic() - t0
        state.metrics.request_duration.labels(**labels, status=str(status)).observe(elapsed)
        state.metrics.requests.labels(**labels, status=str(status)).inc()
        usage = choices.usage(gens).as_dict() if gens else {}
        gen = gens[0] if gens else None
        store_response(
            state.feedback,
            body,
            request_id=gen.prep.request_id if gen else None,
            model=runtime.name,
            variant=runtime.variant,
            route=route,
            status=status,
            duration_s=elapsed,
            usage=usage,
            answer=text,
        )
        access_log(
            state,
            request_id=gen.prep.request_id if gen else None,
            route=route,
            model=runtime.name,
            variant=runtime.variant,
            status=status,
            duration_ms=round(elapsed * 1000, 1),
            stream=body.stream,
            **usage,
            **({"prompt": gen.prep.prompt} if gen and state.settings.log_prompts else {}),
        )

    try:
        gens = await choices.new_generations(
            body, runtime, state.settings, state.library, state.metrics
        )
        await choices.start_all(gens)
    except Exception as exc:
        err = map_backend_error(exc)
        done(err.status, None)
        raise err from None
    gen = gens[0]
    rid = gen.prep.request_id
    headers = {"X-Request-Id": rid, "X-Model-Variant": runtime.variant}

    if not body.stream:
        try:
            texts = await _collect_or_cancel(request, gens)
        except asyncio.CancelledError:
            done(499, gens)
            raise
        except Exception as exc:
            err = map_backend_error(exc)
            done(err.status, gens)
            raise err from None
        try:
            payload = render_full(rid, runtime, texts[0], gen)
            for i, (t, g) in enumerate(zip(texts, gens, strict=True)):
                if i:
                    payload["choices"].append({**render_full(rid, runtime, t, g)["choices"][0]})
                payload["choices"][i]["index"] = i
            payload["usage"] = choices.usage(gens).as_dict()
            if (citations := choices.citations(gens)) is not None:
                payload["citations"] = citations
        except Exception as exc:
            err = map_backend_error(exc)
            done(err.status, gens)
            raise err from None
        done(200, gens, texts[0])
        return Response(payload, headers=headers)

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def events() -> AsyncIterator[bytes]:
        status = 200
        parts: list[str] = []  # the answer, kept for feedback when the store retains text

        def chunk(i: int, delta: Delta | None) -> dict[str, Any]:
            out = render_chunk(rid, runtime, delta, gens[i])
            out["choices"][0]["index"] = i
            return out

        try:
            for i in range(len(gens)):
                yield _json_sse(chunk(i, None))
            ended = 0
            async for i, delta in choices.merged(gens):
                if delta.finish_reason is None:
                    if i == 0:
                        parts.append(delta.text)
                    yield _json_sse(chunk(i, delta))
                    continue
                ended += 1
                last = chunk(i, delta)
                citations = choices.citations(gens) if ended == len(gens) else None
                if citations is not None:  # on the last finish chunk and the usage chunk
                    last["citations"] = citations
                yield _json_sse(last)
            if include_usage:
                final = render_chunk(rid, runtime, Delta(""), gen)
                final["choices"] = []
                final["usage"] = choices.usage(gens).as_dict()
                if citations is not None:
                    final["citations"] = citations
                yield _json_sse(final)
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            status = 499  # client closed the connection
            raise
        except Exception as exc:
            err = map_backend_error(exc)
            status = err.status
            yield _json_sse(err.body())
            yield b"data: [DONE]\n\n"
        finally:
            await choices.close_all(gens)
            done(status, gens, "".join(parts))

    return Stream(
        events(),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# -- response shapes --------------------------------------------------------------------------


def _envelope(
    rid: str, rt: ModelRuntime, obj: str, choice: dict[str, Any], gen: Generation | None = None
) -> dict[str, Any]:
    """The fields every completion object and chunk share; ``gen`` adds the final usage."""
    body: dict[str, Any] = {
        "id": rid,
        "object": obj,
        "created": int(time.time()),
        "model": rt.name,
        "system_fingerprint": _fingerprint(rt),
        "choices": [{"index": 0, **choice}],
    }
    if gen is not None:
        body["usage"] = gen.usage.as_dict()
    return body


def _chat_chunk(rid: str, rt: ModelRuntime, delta: Delta | None, gen: Generation) -> dict[str, Any]:
    choice: dict[str, Any]
    if delta is None:
        choice = {"delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    elif delta.finish_reason:
        choice = {"delta": {}, "finish_reason": delta.finish_reason}
    elif delta.tool_call is not None:
        choice = {"delta": {"tool_calls": [delta.tool_call]}, "finish_reason": None}
    else:
        choice = {"delta": {"content": delta.text}, "finish_reason": None}
        if gen.prep.params.top_logprobs is not None:
            choice["logprobs"] = chat_logprobs(delta.logprobs)
    return _envelope(rid, rt, "chat.completion.chunk", choice)


def _chat_full(rid: str, rt: ModelRuntime, text: str, gen: Generation) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if gen.tool_filter is not None and gen.tool_filter.is_call:
        message = {"role": "assistant", "content": text or None}
        message["tool_calls"] = [gen.tool_filter.message_call()]
    logprobs = chat_logprobs(gen.logprobs) if gen.prep.params.top_logprobs is not None else None
    choice = {"message": message, "logprobs": logprobs, "finish_reason": gen.finish_reason}
    return _envelope(rid, rt, "chat.completion", choice, gen)


def _text_chunk(rid: str, rt: ModelRuntime, delta: Delta | None, gen: Generation) -> dict[str, Any]:
    text = (gen.prep.prompt if gen.prep.echo else "") if delta is None else delta.text
    reason = None if delta is None else delta.finish_reason
    logprobs = None
    if gen.prep.params.top_logprobs is not None:
        # offsets within this chunk's text; the echoed prompt's chunk carries its tokens
        if delta is not None:
            logprobs = text_logprobs(delta.logprobs)
        elif gen.prep.params.prompt_logprobs:
            logprobs = text_logprobs(gen.prompt_logprobs)
    choice = {"text": text, "logprobs": logprobs, "finish_reason": reason}
    return _envelope(rid, rt, "text_completion", choice)


def _text_full(rid: str, rt: ModelRuntime, text: str, gen: Generation) -> dict[str, Any]:
    logprobs = None
    if gen.prep.params.top_logprobs is not None:
        logprobs = text_logprobs([*gen.prompt_logprobs, *gen.logprobs])
    if gen.prep.echo:
        text = gen.prep.prompt + text
    choice = {"text": text, "logprobs": logprobs, "finish_reason": gen.finish_reason}
    return _envelope(rid, rt, "text_completion", choice, gen)


def _fingerprint(rt: ModelRuntime) -> str:
    sha = next((f.sha256 for f in rt.manifest.files if f.sha256), None) or rt.name
    return f"fp_{sha[:10]}"


# -- handlers ---------------------------------------------------------------------------------


async def provide_state(request: Request[Any, Any, Any]) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


@post(
    "/chat/completions",
    status_code=200,
    summary="Create a chat completion (OpenAI API)",
    responses=error_docs.GENERATION,
)
async def chat_completions(
    request: Request[Any, Any, Any],
    data: JSONBody[ChatCompletionRequest],
    server: NamedDependency[ServerState],
) -> Response[Any] | Stream:
    return await _run(request, server, data, "chat", _chat_chunk, _chat_full)


@post(
    "/completions",
    status_code=200,
    summary="Create a text completion (OpenAI API)",
    responses=error_docs.GENERATION,
)
async def completions(
    request: Request[Any, Any, Any],
    data: JSONBody[CompletionRequest],
    server: NamedDependency[ServerState],
) -> Response[Any] | Stream:
    return await _run(request, server, data, "completions", _text_chunk, _text_full)


def _model_card(rt: ModelRuntime) -> dict[str, Any]:
    m = rt.manifest
    return {
        "id": rt.name,
        "object": "model",
        "created": rt.created,
        "owned_by": "legal-edge",
        "variant": rt.variant,
        "metadata": {
            "base_model": m.base_model,
            "quantization": m.quantization,
            "context_length": rt.backend.context_length,
            "license": m.license,
            "stage": m.stage,
            "description": m.description,
            "adapter": m.file("adapter") is not None,
            "form": served_form(m),  # merged | adapter | model: what this server loaded
            # how /v1/chat/completions renders messages: a client that scores answers through
            # /v1/completions (echo + logprobs) renders the same prompt text with it
            "chat_template": m.chat_template,
            "stop": list(m.stop),
            "evaluation": m.evaluation,
            "ready": rt.backend.ready,
            # llama.cpp: layers on a GPU, whether its build has a GPU backend (n_gpu_layers)
            "offload": getattr(rt.backend, "offload", None),
        },
    }


@get("/models", summary="List served models", responses=error_docs.MODELS)
async def list_models(server: NamedDependency[ServerState]) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(rt) for rt in server.models.values()]}


@get("/models/{model_id:str}", summary="Describe one model", responses=error_docs.MODELS)
async def get_model(
    model_id: FromPath[str], server: NamedDependency[ServerState]
) -> dict[str, Any]:
    return _model_card(server.runtime(model_id))


@get("/health/live", summary="Liveness: the process answers")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    summary="Readiness: every model is loaded",
    responses={503: ResponseSpec(dict[str, Any], description="Loading, or the load failed")},
)
async def ready(server: NamedDependency[ServerState]) -> Response[dict[str, Any]]:
    models = {name: rt.backend.ready for name, rt in server.models.items()}
    ok = server.loaded and all(models.values()) and server.load_error is None
    body: dict[str, Any] = {"status": "ready" if ok else "loading", "models": models}
    if server.load_error:
        body["status"], body["error"] = "failed", server.load_error
    return Response(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"}
    )


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(server: NamedDependency[ServerState]) -> Response[bytes]:
    for name, rt in server.models.items():
        stats = rt.backend.stats()
        server.metrics.running.labels(model=name).set(stats.get("running", 0))
        server.metrics.waiting.labels(model=name).set(stats.get("waiting", 0))
    return Response(server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def api_key_guard(
    keys: tuple[str, ...],
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    encoded = [k.encode() for k in keys]

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
        if not encoded:
            return
        auth = connection.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        # compare against every key so timing does not reveal which one matched
        matched = False
        for key in encoded:
            matched |= hmac.compare_digest(given, key)
        if not matched:
            raise NotAuthorizedException(
                "Incorrect API key provided" if given else "Missing API key (Authorization: Bearer)"
            )

    return guard


# -- factory ----------------------------------------------------------------------------------


def load_runtime(
    settings: Settings, name: str | None = None, variant: str = "default"
) -> ModelRuntime:
    """Resolve ``settings.model`` (or ``name``), pick its form (``settings.model_form``: the
    merged build or base + adapter) and build its backend (not yet started)."""
    manifest: ModelManifest = resolve_model(name or settings.model, settings.models_dir)
    if settings.backend == "vllm":  # HF weights: a base + adapter model's vLLM form
        manifest = vllm_form(manifest)
    else:
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
    register_gpu_metrics(state.metrics.registry)
    for rt in runtimes:
        state.metrics.queue_capacity.labels(model=rt.name).set(settings.max_queue)
        state.metrics.model_info.labels(model=rt.name).info(
            {
                "base_model": rt.manifest.base_model,
                "quantization": str(rt.manifest.quantization),
                "form": served_form(rt.manifest),
                "variant": rt.variant,
                "backend": settings.backend,
                "version": __version__,
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.feedback_db is not None:
            state.feedback = FeedbackStore(
                settings.feedback_db, settings.response_retention_days, settings.request_log_days
            )

        async def load() -> None:
            try:
                if state.library is not None:  # one open, warmed index per process
                    await asyncio.to_thread(state.library.open)
                for rt in state.models.values():
                    await rt.backend.start()
                state.loaded = True
            except Exception as exc:
                logging.getLogger("legal_edge.server").exception("model load failed")
                state.load_error = f"{type(exc).__name__}: {exc}"

        task = asyncio.create_task(load())
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

    v1 = Router(
        path="/v1",
        route_handlers=[
            chat_completions,
            completions,
            list_models,
            get_model,
            create_feedback,
            *statute_handlers,
        ],
        guards=[api_key_guard(settings.api_keys)],
    )
    # metrics_require_key: /metrics behind the same keys (Prometheus sends one)
    metrics_guards = [api_key_guard(settings.api_keys)] if settings.metrics_require_key else []
    metrics_router = Router(path="/", route_handlers=[metrics], guards=metrics_guards)
    return Litestar(
        route_handlers=[v1, live, ready, metrics_router, chat_router],
        dependencies={"server": Provide(provide_state)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        on_startup=[error_docs.document_contract],
        state=State({"server": state}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="legal-edge", version=__version__, path="/schema"),
        debug=False,
    )
