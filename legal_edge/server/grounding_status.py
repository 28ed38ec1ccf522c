"""Whether each served model answers from the statute books, as clients see it: ``grounded`` on
``/v1/models``, the ``grounding`` section of ``/health/ready``, the ``legal_edge_grounded``
gauge. A model whose manifest asks for an index it could not open is reported with the reason
(index missing, unreadable, of another schema), so an office sees it without reading the log.
"""

from __future__ import annotations

from typing import Any

from legal_edge.server.grounding import Library

NOT_LOADED = {"grounded": False, "index": None, "reason": "no statute library in this server"}


def state(library: Library | None, model: str) -> dict[str, Any]:
    return library.grounding_state(model) if library is not None else dict(NOT_LOADED)


def is_grounded(library: Library | None, model: str) -> int:
    return int(state(library, model)["grounded"])


def grounding_card(library: Library | None, model: str) -> dict[str, Any]:
    """Fields of a ``/v1/models`` entry: ``grounded`` and, when it is not, why."""
    s = state(library, model)
    out: dict[str, Any] = {"grounded": s["grounded"]}
    if not s["grounded"]:
        out["grounding_off_reason"] = s["reason"]
    return out


def grounding_health(library: Library | None, models: list[str]) -> dict[str, Any]:
    """``/health/ready``'s ``grounding``: per model, grounded or why not; ``degraded`` lists the
    models whose manifest asks for the statute books and that answer without them."""
    per_model = {name: state(library, name) for name in models}
    degraded = [name for name, s in per_model.items() if s.get("expected")]
    return {"models": per_model, "degraded": degraded}
