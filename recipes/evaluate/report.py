"""Aggregate predictions into results.json, report.md / report.html, and model manifests."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json
from legal_edge.settings.loader import to_dict
from recipes.evaluate import onoff
from recipes.evaluate.config import Config
from recipes.evaluate.letters import add_letter_stats, letter_rows
from recipes.evaluate.stats import bootstrap, paired_change
from recipes.evaluate.suites import PreparedSuite
from recipes.shared.plots import pyplot, save_png
from recipes.shared.report import render_markdown, write_report

# Metrics where lower is better; every other metric is better when higher.
LOWER_IS_BETTER = {"over_refusal_rate", "invalid_generate"}
BREAKDOWN_METRICS = ("acc_loglik", "acc_calibrated", "acc_generate")


def _metric_arrays(records: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    num, den = [], []
    for r in records:
        if metric in r.get("metrics", {}):
            n, d = r["metrics"][metric]
            num.append(n)
            den.append(d)
    return num, den


def aggregate(
    cfg: Config,
    suites: list[PreparedSuite],
    per_model: dict[str, dict[str, Any]],
    described: dict[str, Any],
) -> dict[str, Any]:
    boot = {"samples": cfg.bootstrap_samples, "confidence": cfg.confidence, "seed": cfg.seed}
    base = cfg.baseline or cfg.models[0].name
    out: dict[str, Any] = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": to_dict(cfg),
        "models": described,
        "baseline": base,
        "confidence": cfg.confidence,
        "suites": {},
        "comparison": [],
    }
    for suite in suites:
        name = suite.spec.name
        entry: dict[str, Any] = {
            "kind": suite.spec.kind,
            "path": suite.spec.path,
            "n_items": len(suite.items),
            "n_usable": len(suite.loaded.items),
            "skipped": suite.loaded.skip_counts(),
            "skipped_examples": [f"{s.where}: {s.reason}" for s in suite.loaded.skipped[:10]],
            "baselines": suite.baselines,
            "models": {},
        }
        if suite.retrieval:  # gold articles among the k retrieved, the same for every model
            counts = list(suite.retrieval.values())
            entry["retrieval"] = {
                "k": cfg.retrieval_k,
                "recall": bootstrap(
                    [c[0] for c in counts], [c[1] for c in counts], **boot
                ).to_dict(),
            }
        for model, by_suite in per_model.items():
            records, rate = by_suite[name]
            metrics = sorted({m for r in records for m in r.get("metrics", {})})
            skipped: dict[str, int] = defaultdict(int)
            for r in records:
                if r.get("skipped"):
                    skipped[r["skipped"]] += 1
            result: dict[str, Any] = {
                "metrics": {
                    m: bootstrap(*_metric_arrays(records, m), **boot).to_dict() for m in metrics
                },
                "n_scored": sum(1 for r in records if not r.get("skipped")),
                "skipped_items": dict(skipped),
                "items_per_s": rate,
                "breakdown": {},
            }
            if suite.spec.kind in ("mcq", "general"):
                add_letter_stats(result, records, boot)
            for m in (m for m in BREAKDOWN_METRICS if m in metrics):
                groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
                    lambda: defaultdict(list)
                )
                for r in records:
                    for field, value in r.get("groups", {}).items():
                        groups[field][value].append(r)
                result["breakdown"][m] = {
                    field: {
                        v: bootstrap(*_metric_arrays(rs, m), **boot).to_dict()
                        for v, rs in sorted(vals.items())
                    }
                    for field, vals in groups.items()
                    if len(vals) > 1 or field == "source"
                }
            entry["models"][model] = result
        out["suites"][name] = entry
        out["comparison"] += _compare(name, per_model, base, boot)
    out["retrieval_on_off"] = onoff.compare([s.spec for s in suites], per_model, boot)
    return out


def _compare(suite: str, per_model: dict[str, Any], base: str, boot: dict[str, Any]) -> list[dict]:
    if base not in per_model:
        return []
    base_recs = {r["id"]: r for r in per_model[base][suite][0] if not r.get("skipped")}
    rows = []
    for model, by_suite in per_model.items():
        if model == base:
            continue
        other = {r["id"]: r for r in by_suite[suite][0] if not r.get("skipped")}
        ids = [i for i in base_recs if i in other]
        metrics = sorted(
            {m for i in ids for m in base_recs[i]["metrics"]}
            & {m for i in ids for m in other[i]["metrics"]}
        )
        for m in metrics:
            a = [base_recs[i]["metrics"].get(m, [0.0, 0.0]) for i in ids]
            b = [other[i]["metrics"].get(m, [0.0, 0.0]) for i in ids]
            ch = paired_change(
                [x[0] for x in a], [x[1] for x in a], [x[0] for x in b], [x[1] for x in b], **boot
            )
            rows.append(
                {
                    "suite": suite,
                    "metric": m,
                    "original_model": base,
                    "model": model,
                    "higher_is_better": m not in LOWER_IS_BETTER,
                    **ch.to_dict(),
                }
            )
    return rows


# -- rendering ------------------------------------------------------------------------------------
def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _est(e: dict[str, Any]) -> str:
    if e.get("value") is None:
        return "–"
    return f"{_pct(e['value'])} [{_pct(e['ci_low'])}, {_pct(e['ci_high'])}]"


def tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables as (title, header, rows); rendered to Markdown and HTML alike."""
    conf = int(round(100 * results["confidence"]))
    out = []
    comp = results["comparison"]
    if comp:
        rows = []
        for r in comp:
            if r["change"] is None:  # not measurable on these items (e.g. nothing cited)
                continue
            noise = (
                "within noise"
                if r["within_noise"]
                else (
                    "better"
                    if (r["change"] or 0) * (1 if r["higher_is_better"] else -1) > 0
                    else "worse"
                )
            )
            rows.append(
                [
                    r["suite"],
                    r["metric"],
                    _pct(r["original"]),
                    f"{r['model']}: {_pct(r['other'])}",
                    f"{'+' if (r['change'] or 0) >= 0 else ''}{_pct(r['change'])}",
                    f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]",
                    noise,
                    str(r["n"]),
                ]
            )
        out.append(
            (
                f"Original ({results['baseline']}) vs. other models (percent; change with "
                f"paired bootstrap {conf}% interval)",
                ["suite", "metric", "original", "other", "change", f"{conf}% CI", "verdict", "n"],
                rows,
            )
        )
    if results.get("retrieval_on_off"):
        out.append(onoff.table(results["retrieval_on_off"], conf))
    for name, suite in results["suites"].items():
        models = list(suite["models"])
        metrics = sorted({m for r in suite["models"].values() for m in r["metrics"]})
        rows = [
            [m, *(_est(suite["models"][mod]["metrics"].get(m, {})) for mod in models)]
            for m in metrics
        ]
        for b, v in suite.get("baselines", {}).items():
            label = f"baseline: {b}" + (f" (always {v['answer']})" if "answer" in v else "")
            rows.append([label, *([_pct(v["acc"])] * len(models))])
            if "option_f1" in v:
                rows.append([f"{label} per-option F1", *([_pct(v["option_f1"])] * len(models))])
        rows += letter_rows(suite, models)
        if "retrieval" in suite:
            r = suite["retrieval"]
            rows.append(
                [f"retrieval recall@{r['k']} (gold articles among those retrieved)"]
                + [_est(r["recall"])] * len(models)
            )
        speed = ["items/s", *(str(suite["models"][mod]["items_per_s"] or "–") for mod in models)]
        rows.append(speed)
        skipped = ", ".join(f"{k}: {v}" for k, v in suite["skipped"].items()) or "none"
        out.append(
            (
                f"{name} ({suite['kind']}, {suite['n_items']} items; rows skipped as unusable: "
                f"{skipped}) — percent [{conf}% CI]",
                ["metric", *models],
                rows,
            )
        )
        for mod in models:
            for metric, fields in suite["models"][mod].get("breakdown", {}).items():
                for field, vals in fields.items():
                    if len(vals) < 2:
                        continue
                    rows = [[v, _est(e), str(e["n"])] for v, e in list(vals.items())[:40]]
                    out.append((f"{name} / {mod}: {metric} by {field}", [field, metric, "n"], rows))
    return out


def charts(results: dict[str, Any], out: Path) -> list[Path]:
    """One bar chart per suite (every metric, every model, with interval whiskers)."""
    try:
        plt = pyplot()
    except ImportError:
        return []
    paths = []
    for name, suite in results["suites"].items():
        models = list(suite["models"])
        metrics = sorted(
            {
                m
                for r in suite["models"].values()
                for m in r["metrics"]
                if (not m.startswith("acc_") or m.count("_") == 1) and "const" not in m
            }
        )
        if not metrics:
            continue
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(metrics) * max(1, len(models)) / 2), 3.2))
        width = 0.8 / max(1, len(models))
        for i, mod in enumerate(models):
            est = [suite["models"][mod]["metrics"].get(m, {}) for m in metrics]
            vals = [100 * (e.get("value") or 0) for e in est]
            lo = [
                v - 100 * (e.get("ci_low") or 0) if e.get("value") is not None else 0
                for v, e in zip(vals, est, strict=True)
            ]
            hi = [
                100 * (e.get("ci_high") or 0) - v if e.get("value") is not None else 0
                for v, e in zip(vals, est, strict=True)
            ]
            xs = [j + i * width for j in range(len(metrics))]
            ax.bar(xs, vals, width, yerr=[lo, hi], capsize=3, label=mod)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(metrics))])
        ax.set_xticklabels(metrics, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("percent")
        ax.set_title(name)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(save_png(fig, out / f"chart_{name}.png", dpi=110))
    return paths


TEMPLATE = """\
# Evaluation report

Evaluation of {{ results.models | join(", ") }} ({{ results.created }}). Original model: \
{{ results.baseline }}. Intervals: percentile bootstrap over items ({{ samples }} resamples); a \
change whose interval contains 0 is flagged 'within noise'. Every number can be audited in \
predictions.jsonl.

{% for title, header, rows in tables %}
### {{ title }}

{{ rows | table(header) }}

{% endfor %}
{% for png in charts %}
![{{ png.stem }}]({{ png.name }})

{% endfor %}
"""


def write_reports(cfg: Config, out: Path, results: dict[str, Any]) -> None:
    """``results.json``, the charts, and ``report.md`` / ``report.html`` in ``out``."""
    pngs = charts(results, out) if cfg.charts else []
    results["charts"] = [p.name for p in pngs]
    atomic_write_json(out / "results.json", results)
    md = render_markdown(
        TEMPLATE,
        results=results,
        samples=cfg.bootstrap_samples,
        tables=tables(results),
        charts=pngs,
    )
    write_report(out, md, "Evaluation report")
