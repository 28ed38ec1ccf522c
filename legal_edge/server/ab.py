"""A/B tests: serve a candidate model (B) beside the current one (A) on a share of the traffic.

Clients keep asking for A's model name; each client is routed by a stable hash of its user
header (``ab_header``), else its API key, else its address, so one lawyer always sees the same
variant. Asking for B's name reaches B directly. The variant is labelled in metrics, in the
``X-Model-Variant`` response header and in stored responses, so feedback counts per variant
(``legal-edge ab-report``, ``legal_edge.tools.ab_report``, compares them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legal_edge.server.generation import ModelRuntime
    from legal_edge.settings.server import Settings


@dataclass(frozen=True)
class ABSplit:
    """Route requests for ``alias`` to ``a`` or ``b``; ``split`` is B's share of clients."""

    alias: str
    a: str
    b: str
    split: float
    header: str = "x-user-id"

    def choose(self, key: str) -> str:
        digest = hashlib.sha256(f"{self.a}|{self.b}|{key}".encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        return self.b if bucket < self.split else self.a

    def route(self, name: str, key: str) -> str:
        return self.choose(key) if name == self.alias else name


def sticky_key(request: Any, ab: ABSplit | None) -> str:
    """Who is asking: the user header, else the API key, else the client address."""
    if ab is None:
        return ""
    headers = request.headers
    user = headers.get(ab.header)
    if user:
        return f"user:{user}"
    auth = headers.get("authorization", "")
    if auth:
        return "key:" + hashlib.sha256(auth.encode()).hexdigest()
    client = getattr(request, "client", None)
    return f"addr:{client.host if client else ''}"


def load_runtimes(
    settings: Settings, load_runtime: Callable[..., ModelRuntime]
) -> list[ModelRuntime]:
    """A (``model``) alone, or A and B (``ab_model``) labelled as variants."""
    if not settings.ab_model:
        return [load_runtime(settings)]
    runtimes = [
        load_runtime(settings, variant="A"),
        load_runtime(settings, settings.ab_model, variant="B"),
    ]
    ab_split(settings, runtimes)  # same name twice -> ValueError before the server binds
    return runtimes


def ab_split(settings: Settings, runtimes: Sequence[ModelRuntime]) -> ABSplit | None:
    by_variant = {rt.variant: rt.name for rt in runtimes}
    if "A" not in by_variant or "B" not in by_variant:
        return None
    if by_variant["A"] == by_variant["B"]:
        raise ValueError(
            f"ab_model: A and B are the same model ({by_variant['A']!r}); "
            "give the candidate its own name in its manifest"
        )
    return ABSplit(
        alias=by_variant["A"],
        a=by_variant["A"],
        b=by_variant["B"],
        split=settings.ab_split,
        header=settings.ab_header.lower(),
    )
