"""One request's accounting: its Prometheus counters, its access-log line and its feedback row,
written once when the request ends, whatever way it ends (answered, refused, failed, or the
client gone: 499). Every status is counted, so the 5xx alert rules see every failure."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from legal_edge.server import choices
from legal_edge.server.errors import APIError
from legal_edge.server.feedback_api import store_response
from legal_edge.server.generation import Generation, ModelRuntime
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.server.state import ServerState

log = logging.getLogger("legal_edge.access")
UNKNOWN_MODEL = "(unknown)"  # metrics label of requests naming no served model


def access_log(**fields: Any) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(json.dumps({"event": "request", **fields}, ensure_ascii=False))


class RequestAccount:
    """Accounts for one generation request, from the model lookup to its last byte."""

    def __init__(
        self,
        state: ServerState,
        body: ChatCompletionRequest | CompletionRequest,
        route: str,
        runtime: ModelRuntime,
        started: float,
    ) -> None:
        self.state, self.body, self.route, self.runtime = state, body, route, runtime
        self.started = started
        self.labels = {"model": runtime.name, "variant": runtime.variant, "route": route}

    @classmethod
    def open(
        cls,
        state: ServerState,
        body: ChatCompletionRequest | CompletionRequest,
        route: str,
        client_key: str,
    ) -> RequestAccount:
        """Look up the model the request names; an unknown model is counted too, under a fixed
        label (no client text in a metric label), then refused (404)."""
        started = time.monotonic()
        try:
            runtime = state.runtime(body.model, client_key)
        except APIError as exc:
            labels = {"model": UNKNOWN_MODEL, "variant": "none", "route": route}
            _count(state, labels, exc.status, time.monotonic() - started)
            access_log(route=route, model=UNKNOWN_MODEL, status=exc.status, stream=body.stream)
            raise
        return cls(state, body, route, runtime, started)

    def headers(self, gens: list[Generation]) -> dict[str, str]:
        return {"X-Request-Id": gens[0].prep.request_id, "X-Model-Variant": self.runtime.variant}

    def done(self, status: int, gens: list[Generation] | None, text: str | None = None) -> None:
        """The request ended with ``status``; ``text`` is the first choice's answer."""
        elapsed = time.monotonic() - self.started
        _count(self.state, self.labels, status, elapsed)
        usage = choices.usage(gens).as_dict() if gens else {}
        gen = gens[0] if gens else None
        request_id = gen.prep.request_id if gen else None
        store_response(
            self.state.feedback,
            self.body,
            request_id=request_id,
            model=self.runtime.name,
            variant=self.runtime.variant,
            route=self.route,
            status=status,
            duration_s=elapsed,
            usage=usage,
            answer=text,
        )
        prompt = {"prompt": gen.prep.prompt} if gen and self.state.settings.log_prompts else {}
        access_log(
            request_id=request_id,
            route=self.route,
            model=self.runtime.name,
            variant=self.runtime.variant,
            status=status,
            duration_ms=round(elapsed * 1000, 1),
            stream=self.body.stream,
            **usage,
            **prompt,
        )


def _count(state: ServerState, labels: dict[str, str], status: int, elapsed: float) -> None:
    state.metrics.request_duration.labels(**labels, status=str(status)).observe(elapsed)
    state.metrics.requests.labels(**labels, status=str(status)).inc()
