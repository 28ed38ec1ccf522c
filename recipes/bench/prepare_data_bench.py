"""Benchmark data preparation: records/s per step, and how near-dup detection scales.

    .venv/bin/python -m recipes.bench.prepare_data_bench \
        [--config recipes/configs/data/legal_zh.yaml] [--scaling]

Prints the per-step table of one full run (output to a temporary directory unless ``--set
output_dir=…``), then with ``--scaling`` times near-duplicate detection on growing slices of the
prepared records: near-linear growth means LSH, not all pairs, is doing the work.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click

from legal_edge.settings.loader import load_config
from recipes.prepare_data import Config, run
from recipes.prepare_data.config import DedupConfig
from recipes.prepare_data.dedup import deduplicate
from recipes.shared.records import full_text


def _table(rows: list[tuple[str, int, float]]) -> str:
    lines = [f"{'step':<12} {'records':>9} {'seconds':>8} {'records/s':>11}"]
    for name, n, sec in rows:
        rate = n / sec if sec > 0 else float("inf")
        lines.append(f"{name:<12} {n:>9} {sec:>8.2f} {rate:>11.0f}")
    return "\n".join(lines)


def scaling(train_jsonl: Path, sizes: tuple[int, ...]) -> list[tuple[int, float, int]]:
    """(records, seconds, candidate pairs) of near-dup detection on the first N records."""
    with open(train_jsonl, encoding="utf-8") as fh:
        texts = [full_text(json.loads(line)) for line in fh]
    out = []
    for n in sizes:
        if n > len(texts):
            break
        t0 = time.perf_counter()
        res = deduplicate(texts[:n], ["c"] * n, DedupConfig(exact=False))
        out.append((n, time.perf_counter() - t0, res.candidate_pairs))
    return out


@click.command(help=__doc__)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=Path("recipes/configs/data/legal_zh.yaml"),
    show_default=True,
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--scaling/--no-scaling",
    "with_scaling",
    default=False,
    help="Also time near-dup on 10k..80k records.",
)
def main(config: Path, overrides: tuple[str, ...], with_scaling: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="prep-bench-") as tmp:
        sets = [f"output_dir={tmp}/out", *overrides]
        cfg = load_config(Config, config, sets)
        t0 = time.perf_counter()
        out = run(cfg)
        total = time.perf_counter() - t0
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        rows = [(t["step"], t["records"], t["seconds"]) for t in manifest["timings"]]
        rows.append(
            (
                "write+report",
                manifest["counts"]["train"] + manifest["counts"]["val"],
                max(total - sum(r[2] for r in rows), 0.0),
            )
        )
        click.echo(_table(rows))
        counts = manifest["counts"]
        click.echo(
            f"total {total:.1f} s: {counts['train']} train, {counts['val']} val, "
            f"{counts['rejected']} rejected"
        )
        if with_scaling:
            click.echo("\nnear-dup scaling (records, seconds, candidate pairs, µs/record):")
            for n, sec, pairs in scaling(out / "train.jsonl", (10_000, 20_000, 40_000, 80_000)):
                click.echo(f"{n:>7} {sec:7.2f} {pairs:>9} {sec / n * 1e6:8.1f}")


if __name__ == "__main__":
    main()
