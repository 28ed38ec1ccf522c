"""The office chat page at ``/``: static files shipped in the package, served with strict headers.

The page talks only to the public API (``/v1/chat/completions`` streamed, ``/v1/models``,
``/v1/feedback``), so it proves that API works. ``GET /v1/server-info`` tells it what the server
keeps and whether it needs a key; it answers without a key, because the page asks before it has
one, and says nothing an admin would keep secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from legal_edge import __version__

# No inline script or style, nothing from another origin, never framed; fetch only to this server.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "Cache-Control": "no-cache",  # revalidate, so an upgraded server serves its own page
}
# The files served, by name (nothing else under static/ is): the page, its style and its ES
# modules (main.js imports the others; no build step, so what is here is what runs).
SCRIPTS = (
    "main.js",
    "chat.js",
    "messages.js",
    "sidebar.js",
    "store.js",
    "api.js",
    "sse.js",
    "markdown.js",
    "citations.js",
    "i18n.js",
    "dom.js",
)
STATIC_TYPES = {
    "index.html": "text/html",
    "app.css": "text/css",
    **{name: "text/javascript" for name in SCRIPTS},
}


STATIC_DIR = Path(__file__).with_name("static")  # beside the module, in the wheel and the binary


def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def _page_response(name: str) -> Response[bytes]:
    return Response(_read(name), media_type=STATIC_TYPES[name], headers=PAGE_HEADERS)


@get("/", summary="The chat page", include_in_schema=False)
async def chat_page() -> Response[bytes]:
    return _page_response("index.html")


@get("/static/{name:str}", summary="The chat page's script and style", include_in_schema=False)
async def chat_static(name: FromPath[str]) -> Response[Any]:
    if name not in STATIC_TYPES or name == "index.html":
        return Response(
            {
                "error": {
                    "message": "not found",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "not_found",
                }
            },
            status_code=404,
            headers=PAGE_HEADERS,
        )
    return _page_response(name)


@get("/favicon.ico", status_code=204, include_in_schema=False)
async def favicon() -> None:
    """No icon: answered so browsers do not log a 404 on every visit."""


@get("/v1/server-info", summary="What this server keeps and whether it needs an API key")
async def server_info(server: NamedDependency[Any]) -> dict[str, Any]:
    settings = server.settings
    return {
        # the prompt and answer text are stored for feedback only when the admin chose so
        "keeps_conversation_text": settings.feedback_db is not None
        and settings.response_retention_days > 0,
        "feedback_enabled": settings.feedback_db is not None,
        "requires_api_key": bool(settings.api_keys),
        "version": __version__,
    }


chat_router = Router(path="/", route_handlers=[chat_page, chat_static, favicon, server_info])
