"""Retrieval on vs. off: the same questions asked closed-book and grounded in retrieved articles.

Two suites pair up when their settings differ only in ``name`` and ``retrieval`` (the config
lists ``jecqa`` and ``jecqa_grounded`` over one file, one limit), or in ``name`` and
``grounded`` (a safety suite with ``grounded: both``: closed-book vs the server's grounding).
For every model and every metric both suites report, the change grounded minus closed-book on
the items both scored, with a paired bootstrap interval (``stats.paired_change``), as the
base-vs-tuned table does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from recipes.evaluate.config import SuiteSpec
from recipes.evaluate.stats import paired_change


def pairs(specs: list[SuiteSpec]) -> list[tuple[str, str]]:
    """``(closed-book suite, grounded suite)`` names for every matching pair."""

    def plain(s: SuiteSpec) -> SuiteSpec:
        return dataclasses.replace(s, name="", retrieval=False, grounded=False)

    def grounded(s: SuiteSpec) -> bool:
        return s.retrieval or s.grounded is True

    off = [s for s in specs if not grounded(s)]
    return [(o.name, on.name) for on in specs if grounded(on) for o in off if plain(o) == plain(on)]


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records if not r.get("skipped")}


def compare(
    specs: list[SuiteSpec], per_model: dict[str, dict[str, Any]], boot: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per (pair, model, metric): closed-book value, grounded value, change, interval."""
    rows = []
    for off_name, on_name in pairs(specs):
        for model, by_suite in per_model.items():
            if off_name not in by_suite or on_name not in by_suite:
                continue
            off, on = _by_id(by_suite[off_name][0]), _by_id(by_suite[on_name][0])
            ids = [i for i in off if i in on]
            metrics = sorted(
                {m for i in ids for m in off[i]["metrics"]}
                & {m for i in ids for m in on[i]["metrics"]}
            )
            for m in metrics:
                a = [off[i]["metrics"].get(m, [0.0, 0.0]) for i in ids]
                b = [on[i]["metrics"].get(m, [0.0, 0.0]) for i in ids]
                ch = paired_change(
                    [x[0] for x in a], [x[1] for x in a], [x[0] for x in b], [x[1] for x in b],
                    **boot,
                )  # fmt: skip
                rows.append(
                    {"closed_book": off_name, "grounded": on_name, "model": model, "metric": m}
                    | ch.to_dict()
                )
    return rows


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def table(rows: list[dict[str, Any]], conf: int) -> tuple[str, list[str], list[list[str]]]:
    """The report's "retrieval on vs off" table."""
    body = [
        [
            f"{r['closed_book']} → {r['grounded']}",
            r["model"],
            r["metric"],
            _pct(r["original"]),
            _pct(r["other"]),
            f"{'+' if (r['change'] or 0) >= 0 else ''}{_pct(r['change'])}",
            f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]",
            "within noise" if r["within_noise"] else "changed",
            str(r["n"]),
        ]
        for r in rows
        if r["change"] is not None
    ]
    header = ["suites", "model", "metric", "off", "on", "change", f"{conf}% CI", "verdict", "n"]
    return (f"Retrieval off vs. on (percent; paired bootstrap {conf}% interval)", header, body)
