"""The route handlers, and the request path of the two generation routes:

resolve the model (``RequestAccount.open``) → prepare and admit the choices (ground, sample,
start the first: refusals happen here, before any response) → answer as JSON or as a stream
(``responders``), the shapes coming from ``shapes``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from legal_edge.server import choices, error_docs
from legal_edge.server.ab import sticky_key
from legal_edge.server.accounting import RequestAccount
from legal_edge.server.generation import map_backend_error
from legal_edge.server.responders import respond_json, respond_stream
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.server.shapes import CHAT, TEXT, Shape, model_card
from legal_edge.server.state import ServerState


async def generate(
    request: Request[Any, Any, Any],
    state: ServerState,
    body: ChatCompletionRequest | CompletionRequest,
    route: str,
    shape: Shape,
) -> Response[Any] | Stream:
    """Serve one generation request: the model, the admitted choices, then the answer."""
    account = RequestAccount.open(state, body, route, sticky_key(request, state.ab))
    try:
        gens = await choices.new_generations(
            body, account.runtime, state.settings, state.library, state.metrics
        )
        await choices.start_all(gens)
    except Exception as exc:
        err = map_backend_error(exc)
        account.done(err.status, None)
        raise err from None
    if body.stream:
        return respond_stream(account, gens, shape)
    return await respond_json(request, account, gens, shape)


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
    return await generate(request, server, data, "chat", CHAT)


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
    return await generate(request, server, data, "completions", TEXT)


@get("/models", summary="List served models", responses=error_docs.MODELS)
async def list_models(server: NamedDependency[ServerState]) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(rt) for rt in server.models.values()]}


@get("/models/{model_id:str}", summary="Describe one model", responses=error_docs.MODELS)
async def get_model(
    model_id: FromPath[str], server: NamedDependency[ServerState]
) -> dict[str, Any]:
    return model_card(server.runtime(model_id))


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
