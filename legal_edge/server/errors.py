"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` with a stable code.

The status tells the client what to do: 400 fix the request, 401 the key, 404 the model name,
413 a smaller body, 503 + Retry-After come back later, 504 the deadline passed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

log = logging.getLogger("legal_edge.server")


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = (
            status,
            message,
            code,
            type,
            param,
        )
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> APIError:
    return APIError(400, message, code=code, param=param)


def bad_combination(message: str, param: str) -> APIError:
    """A 400 for fields that are each valid but not together (``top_logprobs`` without
    ``logprobs``, a ``tool_choice`` naming no tool): relations an OpenAPI schema cannot state."""
    return APIError(400, message, code="invalid_combination", param=param)


def _response(err: APIError) -> Response[Any]:
    return Response(err.body(), status_code=err.status, headers=err.headers)


def api_error_handler(_: Request[Any, Any, Any], exc: APIError) -> Response[Any]:
    return _response(exc)


_MISSING = re.compile(r"missing required field `([^`]+)`")


def _validation_param(exc: ValidationException) -> tuple[str | None, str]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            key = item.get("key")
            msg = str(item.get("message", ""))
            if key == "data" and msg.strip("'") == "data":  # Litestar's words for "no body"
                return None, "request body is missing: send a JSON object"
            missing = _MISSING.search(msg)
            if missing and key in (None, "data", "$"):
                key = (
                    f"{key}.{missing.group(1)}"
                    if key not in (None, "data", "$")
                    else missing.group(1)
                )
                return key, f"{key}: required field is missing"
            if key:
                key = str(key).removeprefix("$.")
                return key, f"{key}: {msg}" if msg else f"invalid value for {key}"
            if msg:
                return None, msg
    return None, exc.detail


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        return _response(
            APIError(400, f"request body is not valid JSON: {exc.detail}", code="invalid_json")
        )
    if isinstance(exc, ValidationException):
        param, message = _validation_param(exc)
        return _response(APIError(400, message, code="invalid_request", param=param))
    codes = {
        401: ("authentication_error", "invalid_api_key"),
        404: ("invalid_request_error", "not_found"),
        405: ("invalid_request_error", "method_not_allowed"),
        413: ("invalid_request_error", "request_too_large"),
        429: ("rate_limit_error", "rate_limit_exceeded"),
    }
    etype, code = codes.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", f"http_{status}")
    )
    message = exc.detail or "error"
    if status == 413:
        message = "request body too large"
    return _response(
        APIError(status, message, code=code, type=etype, headers=dict(exc.headers or {}))
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _response(
        APIError(500, "internal server error", code="internal_error", type="server_error")
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    APIError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
