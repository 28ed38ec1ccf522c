"""API keys: ``Authorization: Bearer <key>`` against ``settings.api_keys`` (none: open)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def api_key_guard(keys: tuple[str, ...]) -> Guard:
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
