"""What one server process holds: its settings, its models, its metrics, its feedback store and
its statute library. Built by ``create_app``, reached by handlers through dependency injection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from legal_edge.feedback import FeedbackStore
from legal_edge.server.ab import ABSplit
from legal_edge.server.errors import APIError
from legal_edge.server.generation import ModelRuntime
from legal_edge.server.grounding import Library
from legal_edge.server.metrics import Metrics
from legal_edge.settings.server import Settings


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


async def provide_state(request: Request[Any, Any, Any]) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]
