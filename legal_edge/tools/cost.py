"""Cost analysis: what the service costs per month and per 1,000 requests on each host.

Input: ``bench`` results per hardware (measured here, or measured elsewhere and given as a JSON
file of concurrency -> P95 latency / throughput points) and a monthly price table. For each
hardware the highest measured throughput whose P95 stays under the target (1 s) is its capacity;
a target load then needs ``ceil(load / capacity)`` machines, and the cheapest such configuration
wins.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

SECONDS_PER_MONTH = 30 * 24 * 3600
# ¥ per month. The GPU prices are the project's seed figures; the CPU server price is our
# assumption for a small rented x86 server like the 2-core / 24 GB one measured here (override
# with --prices).
DEFAULT_PRICES: dict[str, float] = {
    "a100-40gb": 8000.0,
    "rtx-4090": 2000.0,
    "t4-16gb": 800.0,
    "cpu-server": 400.0,
}
_P95_KEYS = (
    ("p95_s", 1.0),
    ("latency_p95_s", 1.0),
    ("p95_latency_s", 1.0),
    ("p95", 1.0),
    ("p95_ms", 0.001),
    ("latency_p95_ms", 0.001),
)
_TTFT_KEYS = (("ttft_p95_s", 1.0), ("ttft_p95_ms", 0.001))
_QPS_KEYS = ("throughput_rps", "requests_per_s", "rps", "qps", "req_per_s")


class CostError(ValueError):
    """Unusable bench file or price table; the message names the file and the field."""


@dataclass(frozen=True)
class Point:
    concurrency: int
    p95_s: float
    qps: float


def _field(row: Mapping[str, Any], where: str, metric: str) -> tuple[float, float]:
    if isinstance(row.get(metric), Mapping):  # `legal-edge bench` levels
        p95 = row[metric].get("p95")
        ok = int(row.get("requests", 0)) - int(row.get("errors", 0)) - int(row.get("incomplete", 0))
        wall = float(row.get("wall_s") or 0)
        qps = ok / wall if wall > 0 else None
        if p95 is None or qps is None:
            raise CostError(f"{where}: bench level without {metric}.p95 or requests/wall_s")
        return float(p95), qps
    keys = _P95_KEYS if metric == "latency_s" else _TTFT_KEYS
    p95 = next((float(row[k]) * scale for k, scale in keys if row.get(k) is not None), None)
    qps = next((float(row[k]) for k in _QPS_KEYS if row.get(k) is not None), None)
    if p95 is None or qps is None:
        raise CostError(
            f"{where}: needs a P95 latency ({', '.join(k for k, _ in keys)}) "
            f"and a throughput ({', '.join(_QPS_KEYS)}); keys: {sorted(row)}"
        )
    return p95, qps


def load_points(path: Path, metric: str = "latency_s") -> tuple[list[Point], dict[str, Any]]:
    """Points from ``legal-edge bench --json-out`` (``levels``) or a plain JSON of points
    (``points`` list, or a bare list); ``metric``: ``latency_s`` (end to end) or ``ttft_s``.

    A bench level's throughput counts only complete, error-free requests; a level with more
    than 1% failed requests does not count as meeting the target.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CostError(f"{path}: cannot read bench results: {exc}") from None
    meta: dict[str, Any] = {}
    rows = data
    if isinstance(data, dict):
        meta = {k: v for k, v in data.items() if not isinstance(v, list)}
        rows = next((data[k] for k in ("points", "results", "levels") if k in data), None)
    if not isinstance(rows, list) or not rows:
        raise CostError(f"{path}: no list of points (expected 'points', 'results' or 'levels')")
    points = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "concurrency" not in row:
            raise CostError(f"{path}: point {i} needs 'concurrency'")
        p95, qps = _field(row, f"{path}: point {i}", metric)
        failed = int(row.get("errors", 0)) + int(row.get("incomplete", 0))
        if row.get("requests") and failed / int(row["requests"]) > 0.01:
            p95 = math.inf  # an overloaded level: errors, not latency, are the limit
        points.append(Point(int(row["concurrency"]), p95, qps))
    return sorted(points, key=lambda p: p.concurrency), meta


def load_prices(path: Path | None) -> dict[str, float]:
    if path is None:
        return dict(DEFAULT_PRICES)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CostError(f"{path}: cannot read price table: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise CostError(f"{path}: expected a mapping hardware -> yuan per month")
    prices = {}
    for name, value in data.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise CostError(f"{path}: {name}: price must be a positive number, got {value!r}")
        prices[str(name)] = float(value)
    return prices


def analyse(
    benches: Mapping[str, list[Point]],
    prices: Mapping[str, float],
    target_qps: float = 0.0,
    p95_target_s: float = 1.0,
) -> dict[str, Any]:
    rows = []
    for hw, points in benches.items():
        if hw not in prices:
            raise CostError(f"no price for hardware {hw!r}; known: {', '.join(sorted(prices))}")
        ok = [p for p in points if p.p95_s < p95_target_s]
        best = max(ok, key=lambda p: p.qps) if ok else None
        price = prices[hw]
        row: dict[str, Any] = {
            "hardware": hw,
            "yuan_per_month": price,
            "max_qps_p95_ok": best.qps if best else 0.0,
            "at_concurrency": best.concurrency if best else None,
            "p95_s": best.p95_s if best else None,
            "yuan_per_1k_requests": (
                price / (best.qps * SECONDS_PER_MONTH) * 1000 if best and best.qps > 0 else None
            ),
        }
        if target_qps > 0:
            n = math.ceil(target_qps / best.qps) if best and best.qps > 0 else None
            row["machines_for_target"] = n
            row["yuan_per_month_for_target"] = n * price if n else None
        rows.append(row)
    out: dict[str, Any] = {"p95_target_s": p95_target_s, "target_qps": target_qps, "rows": rows}
    feasible = [r for r in rows if r.get("yuan_per_month_for_target")]
    if target_qps > 0:
        cheapest = min(feasible, key=lambda r: r["yuan_per_month_for_target"], default=None)
        out["cheapest"] = cheapest["hardware"] if cheapest else None
    return out


def format_table(rep: dict[str, Any]) -> str:
    target = rep["target_qps"]
    what = "TTFT " if rep.get("metric") == "ttft" else ""
    qps_head = f"max QPS ({what}P95<{rep['p95_target_s']:g}s)"
    head = (
        f"{'hardware':14} {'¥/month':>8} {qps_head:>25} {'@conc':>6} {'P95 s':>6} {'¥/1k req':>9}"
    )
    if target:
        head += f" {'machines':>9} {'¥/month @' + format(target, 'g') + ' QPS':>16}"
    lines = [head]
    for r in rep["rows"]:
        per_k = "-" if r["yuan_per_1k_requests"] is None else f"{r['yuan_per_1k_requests']:.3f}"
        line = (
            f"{r['hardware']:14} {r['yuan_per_month']:>8.0f} {r['max_qps_p95_ok']:>25.2f} "
            f"{r['at_concurrency'] or '-':>6} "
            f"{'-' if r['p95_s'] is None else format(r['p95_s'], '.3f'):>6} {per_k:>9}"
        )
        if target:
            n, total = r["machines_for_target"], r["yuan_per_month_for_target"]
            line += f" {n or '-':>9} {'-' if total is None else format(total, '.0f'):>16}"
        lines.append(line)
    if target:
        lines.append("")
        lines.append(
            f"cheapest for {target:g} QPS at P95 < {rep['p95_target_s']} s: "
            f"{rep['cheapest'] or 'none of the measured configurations'}"
        )
    return "\n".join(lines)


@click.command("cost")
@click.option(
    "--bench",
    "benches",
    multiple=True,
    required=True,
    metavar="HARDWARE=FILE",
    help="Bench results JSON for one hardware (repeat), e.g. cpu-server=bench.json.",
)
@click.option(
    "--prices",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML hardware -> ¥/month [A100 8000, RTX 4090 2000, T4 800, CPU server 400].",
)
@click.option("--target-qps", type=float, default=0.0, help="Load to plan for (requests/s).")
@click.option(
    "--p95-target", type=float, default=1.0, show_default=True, help="Latency objective in seconds."
)
@click.option(
    "--metric",
    type=click.Choice(["latency", "ttft"]),
    default="latency",
    show_default=True,
    help="Whose P95 must stay under the target: the whole request "
    "or the time to first token (streaming).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cost_command(
    benches: tuple[str, ...],
    prices: Path | None,
    target_qps: float,
    p95_target: float,
    metric: str,
    as_json: bool,
) -> None:
    """Capacity at P95 < 1 s, ¥/month and ¥ per 1,000 requests per hardware; cheapest for a load."""
    try:
        table = load_prices(prices)
        loaded: dict[str, list[Point]] = {}
        for spec in benches:
            hw, sep, file = spec.partition("=")
            if not sep or not hw or not file:
                raise CostError(f"--bench {spec!r}: expected HARDWARE=FILE")
            loaded[hw], _ = load_points(Path(file), f"{metric}_s")
        rep = analyse(loaded, table, target_qps, p95_target)
        rep["metric"] = metric
    except CostError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(rep, indent=1) if as_json else format_table(rep))
