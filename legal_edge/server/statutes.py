"""``GET /v1/statutes/search`` and ``GET /v1/statutes/{law}/{article}``: the statute index
(``settings.statutes_index``, else the served model's, built by ``legal-recipes build-index``)
over HTTP.

The index is opened on first use and kept on the app's state: reading its per-article arrays
takes a fraction of a second and jieba's dictionary about a second, once per process.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from legal_edge.server import error_docs, grounding_status
from legal_edge.server.errors import APIError, bad_request
from legal_edge.statutes import books
from legal_edge.statutes.index import IndexError_, StatuteIndex

_OPEN_LOCK = threading.Lock()
_STATE_KEY = "statute_index"
RESPONSES = error_docs.error_responses(*error_docs.COMMON, 404, 503)


def statute_index(request: Request[Any, Any, Any], server: Any) -> StatuteIndex:
    """The app's statute index, opened once; 503 when none is configured or it cannot open."""
    opened = server.library.endpoint_index() if server.library is not None else None
    if opened is not None:  # opened in the lifespan (statutes_index, else the model's index)
        return opened  # type: ignore[no-any-return]
    path = server.settings.statutes_index
    if path is None:
        raise APIError(
            503,
            "no statute index is configured (setting statutes_index; build one "
            "with `legal-recipes build-index`)",
            code="statutes_unavailable",
            type="server_error",
        )
    with _OPEN_LOCK:
        index = request.app.state.get(_STATE_KEY)
        if index is None:
            try:
                index = books.open_index(path)
            except IndexError_ as exc:
                raise APIError(
                    503, str(exc), code="statutes_unavailable", type="server_error"
                ) from None
            request.app.state[_STATE_KEY] = index
    return index  # type: ignore[no-any-return]


def _date(value: str | None) -> str | None:
    if value is None:
        return None
    import datetime as dt

    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise bad_request(f"date must be YYYY-MM-DD, got {value!r}", param="date") from None


@get(
    "/statutes",
    summary="What the statute books are",
    responses=error_docs.error_responses(*error_docs.COMMON),
    sync_to_thread=False,
)
def describe_statutes(server: NamedDependency[Any]) -> dict[str, Any]:
    """The statute index behind grounded answers and the look-up endpoints: its sources with
    their versions and licences, laws and articles in force, newest version date, build time,
    relevance floor; and for each served model whether it answers from it, or why not."""
    library = server.library
    index = library.endpoint_index() if library is not None else None
    models = {name: grounding_status.state(library, name) for name in server.models}
    return {
        "object": "statute_books",
        "available": index is not None,
        "books": books.describe(index) if index is not None else None,
        "models": models,
    }


@get(
    "/statutes/search", summary="Search the statute books", responses=RESPONSES, sync_to_thread=True
)
def search_statutes(
    request: Request[Any, Any, Any],
    server: NamedDependency[Any],
    q: Annotated[str, Parameter(min_length=1, max_length=2000, description="question or keywords")],
    k: Annotated[int, Parameter(ge=1, le=50, description="articles to return")] = 5,
    date: Annotated[
        str | None, Parameter(description="YYYY-MM-DD: the version in force then")
    ] = None,
) -> dict[str, Any]:
    """Articles for a question, best first: articles it names outright, then BM25 matches,
    from the version in force now (or on ``date``)."""
    index = statute_index(request, server)
    hits = index.search(q, k=k, date=_date(date))
    return {"object": "list", "data": [h.to_dict() for h in hits]}


@get(
    "/statutes/{law:str}/{article:str}",
    summary="One article of a law",
    responses=RESPONSES,
    sync_to_thread=True,
)
def show_statute(
    request: Request[Any, Any, Any],
    server: NamedDependency[Any],
    law: FromPath[str],
    article: FromPath[str],
    date: Annotated[
        str | None, Parameter(description="YYYY-MM-DD: the version in force then")
    ] = None,
) -> dict[str, Any]:
    """An article by law (``刑法``, ``民诉法``, the official title) and number (``133-1``,
    ``第二百六十四条``), with every version the index holds."""
    index = statute_index(request, server)
    title = index.resolve_law(law)
    if title is None:
        raise APIError(
            404, f"no law named {law!r} in the statute index", code="law_not_found", param="law"
        )
    try:
        versions = index.versions(title, article)
    except ValueError:
        raise bad_request(f"not an article number: {article!r}", param="article") from None
    when = _date(date)
    current = index.lookup(title, article, when)
    if current is None:
        raise APIError(
            404,
            f"《{title}》 has no article {article} in force"
            + (f" on {when}" if when else "")
            + (f"; versions held: {', '.join(v.version for v in versions)}" if versions else ""),
            code="article_not_found",
            param="article",
        )
    return {**current.to_dict(), "versions": [v.to_dict() for v in versions]}


HANDLERS = [describe_statutes, search_statutes, show_statute]
