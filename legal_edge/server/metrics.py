"""Prometheus metrics, one registry per app (tests build many apps in one process).

Names are stable (dashboards and alert rules in deploy/monitoring rely on them). Buckets are
fine below one second because the latency targets are sub-second.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.5,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
)
TOKEN_BUCKETS = (
    0.005,
    0.01,
    0.015,
    0.02,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.0,
)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "legal_edge_request_duration_seconds",
            "End-to-end request latency",
            ["model", "variant", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "legal_edge_time_to_first_token_seconds",
            "Time from request to first generated token",
            ["model", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "legal_edge_inter_token_latency_seconds",
            "Time between generated tokens",
            ["model", "variant"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "legal_edge_prompt_tokens", "Prompt tokens processed", ["model", "variant"], registry=r
        )
        self.generation_tokens = Counter(
            "legal_edge_generation_tokens", "Tokens generated", ["model", "variant"], registry=r
        )
        self.requests = Counter(
            "legal_edge_requests",
            "Requests by route and status",
            ["model", "variant", "route", "status"],
            registry=r,
        )
        self.running = Gauge(
            "legal_edge_requests_running", "Requests generating now", ["model"], registry=r
        )
        self.waiting = Gauge(
            "legal_edge_requests_waiting", "Requests waiting for a slot", ["model"], registry=r
        )
        self.feedback = Counter(
            "legal_edge_feedback",
            "Feedback received by rating and A/B variant",
            ["rating", "variant"],
            registry=r,
        )
        self.model_info = Info("legal_edge_model", "Served model", ["model"], registry=r)
        self._grounding_metrics(r)
        # max_queue, so alerts can express queue saturation as a share of capacity
        self.queue_capacity = Gauge(
            "legal_edge_queue_capacity",
            "Waiting requests allowed before 503",
            ["model"],
            registry=r,
        )

    def _grounding_metrics(self, r: CollectorRegistry) -> None:
        """The grounded answers' series."""
        # grounded answers: how retrieval went per chat completion (grounded, nothing_found,
        # retrieval_off), and each citation in an answer as checked (verified true / false)
        self.grounding = Counter(
            "legal_edge_grounding",
            "Grounded chat completions by outcome",
            ["model", "outcome"],
            registry=r,
        )
        # the closed-book guard of grounded answers: per guarded question, whether the model's
        # closed-book opening refused (refused: the client got that refusal) or not (passed)
        self.grounding_guard = Counter(
            "legal_edge_grounding_guard",
            "Grounded questions by the closed-book guard's decision",
            ["model", "outcome"],
            registry=r,
        )
        self.citations = Counter(
            "legal_edge_citations",
            "Citations in answers by verification",
            ["model", "verified"],
            registry=r,
        )
        # 1 while the model answers from the statute books, 0 while it answers without them
        # (its index missing or unreadable, or none configured): alert on 0 for a legal model
        self.grounded = Gauge(
            "legal_edge_grounded",
            "1 if the model's answers are grounded in the statute index, else 0",
            ["model"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
