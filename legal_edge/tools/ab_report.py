"""``legal-edge ab-report``: the A/B test's verdict (routing: ``legal_edge.server.ab``).

It compares the variants from the feedback store: latency percentiles
(Mann-Whitney U), error rate and feedback score (two-proportion z-tests), and says when there is
not enough data to tell yet.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

if TYPE_CHECKING:
    from legal_edge.feedback import FeedbackStore

ALPHA = 0.05
MIN_REQUESTS = 30  # per variant, before latency and error rates are compared
MIN_FEEDBACK = 20  # per variant, before feedback scores are compared


# -- statistics ---------------------------------------------------------------------------------


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _ranks(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Average ranks (ties share their mean rank) and the tie term sum(t^3 - t)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_v = values[order]
    ties = 0.0
    i = 0
    while i < len(sorted_v):
        j = i
        while j + 1 < len(sorted_v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    return ranks, ties


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    ranks, ties = _ranks(np.asarray([*x, *y], dtype=float))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u1 - n1 * n2 / 2) - 0.5) / math.sqrt(var)  # continuity correction
    return min(1.0, 2 * _norm_sf(max(z, 0.0)))


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that k1/n1 and k2/n2 differ (pooled z-test)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return min(1.0, 2 * _norm_sf(abs(k1 / n1 - k2 / n2) / se))


# -- the report ---------------------------------------------------------------------------------


@dataclass
class VariantStats:
    variant: str
    models: list[str]
    requests: int
    errors: int  # 5xx
    latencies: list[float]  # successful requests, seconds
    up: int
    down: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def score(self) -> float | None:
        n = self.up + self.down
        return self.up / n if n else None

    def pct(self, q: float) -> float | None:
        return float(np.percentile(self.latencies, q)) if self.latencies else None

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "models": self.models,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p50_s": self.pct(50),
            "p95_s": self.pct(95),
            "p99_s": self.pct(99),
            "feedback_up": self.up,
            "feedback_down": self.down,
            "score": self.score,
        }


def variant_stats(
    store: FeedbackStore, since: float = 0.0, warmup: int = 0
) -> dict[str, VariantStats]:
    """Per-variant counts; the first ``warmup`` requests of each variant are left out (a cold
    engine's first answers measure its start, not the model)."""
    stats: dict[str, VariantStats] = {}
    seen: dict[str, int] = {}
    for r in store.rows(
        "SELECT variant, model, status, duration_s FROM responses "
        "WHERE created >= ? AND status != 499 ORDER BY created",
        (since,),
    ):
        seen[r["variant"]] = seen.get(r["variant"], 0) + 1
        if seen[r["variant"]] <= warmup:
            continue
        s = stats.setdefault(r["variant"], VariantStats(r["variant"], [], 0, 0, [], 0, 0))
        if r["model"] not in s.models:
            s.models.append(r["model"])
        s.requests += 1
        if r["status"] >= 500:
            s.errors += 1
        elif r["status"] == 200:
            s.latencies.append(r["duration_s"])
    for r in store.rows(
        "SELECT variant, rating, COUNT(*) AS n FROM feedback WHERE created >= ? "
        "GROUP BY variant, rating",
        (since,),
    ):
        rated = stats.get(r["variant"] or "")
        if rated is not None:
            rated.up += r["n"] if r["rating"] == "up" else 0
            rated.down += r["n"] if r["rating"] == "down" else 0
    return stats


def compare(a: VariantStats, b: VariantStats) -> list[dict[str, Any]]:
    """One verdict per metric: p-value, or why there is not enough data yet."""
    out = []
    short = [f"{s.variant} has {s.requests} requests" for s in (a, b) if s.requests < MIN_REQUESTS]
    for metric, p_fn in (
        ("latency", lambda: mann_whitney(a.latencies, b.latencies)),
        ("error_rate", lambda: two_proportions(a.errors, a.requests, b.errors, b.requests)),
    ):
        if short:
            out.append(
                {
                    "metric": metric,
                    "p_value": None,
                    "verdict": f"not enough data: {', '.join(short)} (need {MIN_REQUESTS} each)",
                }
            )
        else:
            out.append(_verdict(metric, p_fn(), a, b))
    n_a, n_b = a.up + a.down, b.up + b.down
    if min(n_a, n_b) < MIN_FEEDBACK:
        out.append(
            {
                "metric": "feedback_score",
                "p_value": None,
                "verdict": f"not enough data: {n_a} / {n_b} ratings (need {MIN_FEEDBACK} each)",
            }
        )
    else:
        out.append(_verdict("feedback_score", two_proportions(a.up, n_a, b.up, n_b), a, b))
    return out


def _verdict(metric: str, p: float, a: VariantStats, b: VariantStats) -> dict[str, Any]:
    if p >= ALPHA:
        return {
            "metric": metric,
            "p_value": p,
            "verdict": f"no significant difference (p={p:.3g} >= {ALPHA})",
        }
    if metric == "latency":
        better = "B" if float(np.median(b.latencies)) < float(np.median(a.latencies)) else "A"
        what = "faster"
    elif metric == "error_rate":
        better, what = ("B" if b.error_rate < a.error_rate else "A"), "fewer errors"
    else:
        better, what = ("B" if (b.score or 0) > (a.score or 0) else "A"), "better rated"
    return {"metric": metric, "p_value": p, "verdict": f"{better} is {what} (p={p:.3g})"}


def report(store: FeedbackStore, since: float = 0.0, warmup: int = 0) -> dict[str, Any]:
    stats = variant_stats(store, since, warmup)
    out: dict[str, Any] = {
        "variants": [s.to_json() for _, s in sorted(stats.items())],
        "comparison": [],
    }
    if "A" in stats and "B" in stats:
        out["comparison"] = compare(stats["A"], stats["B"])
    else:
        out["note"] = (
            f"no A/B data: variants seen {sorted(stats) or 'none'}; "
            "serve with ab_model set to start a test"
        )
    return out


def format_report(rep: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f}"

    lines = [
        f"{'variant':8} {'model':28} {'requests':>8} {'errors':>7} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'up':>4} {'down':>4} {'score':>6}"
    ]
    for v in rep["variants"]:
        score = "-" if v["score"] is None else f"{v['score']:.2f}"
        lines.append(
            f"{v['variant']:8} {','.join(v['models'])[:28]:28} {v['requests']:>8} "
            f"{v['error_rate']:>6.1%} {ms(v['p50_s']):>7} {ms(v['p95_s']):>7} "
            f"{ms(v['p99_s']):>7} {v['feedback_up']:>4} {v['feedback_down']:>4} {score:>6}"
        )
    lines.append("")
    for c in rep["comparison"]:
        lines.append(f"{c['metric']:15} {c['verdict']}")
    if rep.get("note"):
        lines.append(rep["note"])
    return "\n".join(lines)


# -- CLI ----------------------------------------------------------------------------------------


@click.command("ab-report")
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite feedback store [the config's feedback_db].",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="Server YAML config (for feedback_db).",
)
@click.option("--since-days", type=float, default=0.0, help="Only the last N days.")
@click.option(
    "--warmup",
    type=int,
    default=0,
    show_default=True,
    help="Leave out each variant's first N requests (engine warm-up after a start).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ab_report_command(
    db: Path | None, config: Path | None, since_days: float, warmup: int, as_json: bool
) -> None:
    """Compare A/B variants: latency percentiles, error rate, feedback score, significance."""
    from legal_edge.tools.feedback_commands import open_store

    store = open_store(db, config)
    since = time.time() - since_days * 86400 if since_days > 0 else 0.0
    rep = report(store, since, warmup)
    click.echo(json.dumps(rep, ensure_ascii=False, indent=1) if as_json else format_report(rep))
