"""``POST /v1/feedback``: a lawyer rates an answer (and may correct it) by its response id."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any, Literal

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta, Struct

from legal_edge.feedback import FeedbackError, FeedbackStore, ResponseRecord, request_payload
from legal_edge.server import error_docs
from legal_edge.server.errors import APIError

log = logging.getLogger("legal_edge.access")

MAX_TAGS = 16
TAG_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}


class FeedbackRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    response_id: Annotated[str, Meta(min_length=1, max_length=200)]
    rating: Literal["up", "down"]
    correction: str | None = None  # the answer the model should have given
    # a tag has a non-space character (the store keeps tags stripped); Litestar leaves the
    # items' constraints out of the OpenAPI schema, so they are stated again
    tags: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=64, pattern=r"\S")]],
        Meta(max_length=MAX_TAGS, extra_json_schema={"extra": {"items": TAG_SCHEMA}}),
    ] = []
    comment: Annotated[str, Meta(max_length=4000)] | None = None


@post(
    "/feedback",
    status_code=200,
    summary="Rate (and optionally correct) a response",
    responses=error_docs.FEEDBACK,
)
async def create_feedback(
    data: JSONBody[FeedbackRequest], server: NamedDependency[Any]
) -> dict[str, Any]:
    store: FeedbackStore | None = server.feedback
    if store is None:
        raise APIError(
            503,
            "feedback is disabled on this server (set feedback_db)",
            code="feedback_disabled",
            type="server_error",
        )
    try:
        fb = store.add_feedback(
            data.response_id, data.rating, data.correction, data.tags, data.comment
        )
    except FeedbackError as exc:
        raise APIError(
            exc.status,
            str(exc),
            param=exc.param,
            code="response_not_found" if exc.status == 404 else "invalid_feedback",
        ) from None
    server.metrics.feedback.labels(rating=fb["rating"], variant=fb["variant"]).inc()
    # no comment or correction text in the log, only what operations need
    log.info(
        json.dumps(
            {
                "event": "feedback",
                "feedback_id": fb["id"],
                "response_id": fb["response_id"],
                "rating": fb["rating"],
                "variant": fb["variant"],
                "corrected": bool(fb["correction"]),
            }
        )
    )
    return fb


def store_response(
    store: FeedbackStore | None,
    body: Any,
    *,
    request_id: str | None,
    model: str,
    variant: str,
    route: str,
    status: int,
    duration_s: float,
    usage: dict[str, int],
    answer: str | None,
) -> None:
    """Called by the server after every completion; never lets a storage error fail a request."""
    if store is None:
        return
    request_id = request_id or f"err-{uuid.uuid4().hex[:24]}"  # rejected before it had an id
    try:
        store.record_response(
            ResponseRecord(
                id=request_id,
                model=model,
                variant=variant,
                route=route,
                status=status,
                duration_s=duration_s,
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                request=request_payload(body) if status == 200 else None,
                answer=answer if status == 200 else None,
            )
        )
    except Exception:
        logging.getLogger("legal_edge.server").exception("could not store response %s", request_id)
