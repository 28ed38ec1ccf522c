"""The error responses as the served OpenAPI schema states them (``{"error": {...}}``).

Litestar documents its own validation error shape (``status_code``/``detail``) by default; this
server answers every error OpenAI-shaped (``errors.py``), so each route declares that instead,
for the statuses it can answer with. Generated clients and fuzzers then see the real contract.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema
from msgspec import Struct

WHY = {
    400: "Invalid request (the message and param name the field), or context too long",
    401: "Missing or incorrect API key",
    404: "Unknown model or response id",
    413: "Request body larger than max_body_bytes",
    503: "Queue full or model loading: retry after the Retry-After header's seconds",
    504: "The request did not finish before its deadline",
}


class ErrorDetail(Struct, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(Struct, kw_only=True):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route handler: the OpenAI error body under each status."""
    return {
        s: ResponseSpec(data_container=ErrorBody, description=WHY[s], generate_examples=False)
        for s in statuses
    }


# every /v1 route: a bad body or path (400), the key (401), a body over the limit (413)
COMMON = (400, 401, 413)
GENERATION = error_responses(*COMMON, 404, 503, 504)
FEEDBACK = error_responses(*COMMON, 404, 503)
MODELS = error_responses(*COMMON, 404)

# Routes that answer ``stream: true`` with Server-Sent Events instead of JSON.
STREAMING_PATHS = ("/v1/chat/completions", "/v1/completions")
# Bodies that refuse unknown fields (msgspec ``forbid_unknown_fields``), by component name.
CLOSED_BODIES = ("FeedbackRequest", "GroundingOptions")


def document_contract(app: Litestar) -> None:
    """On startup (every route registered), state what Litestar's generated schema leaves out:
    the streaming routes' 200 also lists ``text/event-stream`` (Litestar states one media type
    per status), and closed bodies say ``additionalProperties: false``."""
    openapi = app.openapi_schema
    schemas = openapi.components.schemas if openapi.components else None
    for name in CLOSED_BODIES:
        body = (schemas or {}).get(name)
        if isinstance(body, Schema):
            body.additional_properties = False
    sse = OpenAPIMediaType(
        schema=Schema(
            type=OpenAPIType.OBJECT,
            description='stream: true: "data: <chunk JSON>" events, then "data: [DONE]"',
            properties={"data": Schema(type=OpenAPIType.STRING)},
        )
    )
    for path in STREAMING_PATHS:
        item = (openapi.paths or {}).get(path)
        ok = item.post.responses.get("200") if item and item.post and item.post.responses else None
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content.setdefault("text/event-stream", sse)
