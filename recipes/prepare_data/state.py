"""The state of one data-preparation run: the records so far, what was dropped and why, timings.

The steps fill it in; the checkpoint pickles it after dedup; the report and manifest describe it.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.shared.records import Rejection


@dataclass
class StepTiming:
    name: str
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class RunState:
    """Everything the report and manifest describe."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    timings: list[StepTiming] = field(default_factory=list)
    read_counts: Counter[str] = field(default_factory=Counter)  # source name -> rows read
    input_files: list[Path] = field(default_factory=list)
    decoded_as: dict[str, str] = field(default_factory=dict)
    pii_counts: Counter[str] = field(default_factory=Counter)
    synthesis: Counter[str] = field(default_factory=Counter)
    dedup: dict[str, int] = field(default_factory=dict)
    decontam: Counter[str] = field(default_factory=Counter)
    eval_files: dict[str, int] = field(default_factory=dict)
    mix: dict[str, Any] = field(default_factory=dict)  # held out, crime, grounding, MCQ letters

    def reject(
        self, rec: dict[str, Any], rule: str, reason: str, dup: str = "", body: bool = True
    ) -> None:
        """Record a dropped record; ``body=False`` keeps only id and origin (sampled-out ones)."""
        self.rejected.append(
            Rejection(
                rule,
                reason,
                rec["_origin"],
                rec["source"],
                rec["id"],
                rec if body else None,
                dup,
                rec["license"],
            )
        )


class Step:
    """Times one step into ``state.timings``; set ``records`` inside the block."""

    def __init__(self, state: RunState, name: str, profile: bool) -> None:
        self.state, self.name, self.profile = state, name, profile
        self.records = 0

    def __enter__(self) -> Step:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        t = StepTiming(self.name, self.records, time.perf_counter() - self.t0)
        self.state.timings.append(t)
        if self.profile:
            print(
                f"[profile] {t.name:<12} {t.records:>8} records {t.seconds:7.2f} s "
                f"{t.rate:10.0f} records/s",
                file=sys.stderr,
            )
