"""Plots for the data report (matplotlib, Agg backend), saved as PNG beside ``report.md``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from recipes.shared.plots import pyplot, save_png
from recipes.shared.records import answer_text


def make_plots(out: Path, train: list, val: list, rejected: Counter[str]) -> dict[str, Path]:
    plt = pyplot()
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    made: dict[str, Path] = {}
    cats = sorted({r["category"] for r in train + val})
    tc = Counter(r["category"] for r in train)
    vc = Counter(r["category"] for r in val)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(cats) + 1.5))
    ys = range(len(cats))
    # side by side, not stacked: stacked bars on a log axis misstate the smaller part
    ax.barh([y + 0.2 for y in ys], [tc[c] for c in cats], height=0.4, label="train")
    ax.barh([y - 0.2 for y in ys], [vc[c] for c in cats], height=0.4, label="validation")
    ax.set_yticks(list(ys), cats)
    ax.set_xscale("log")
    ax.set_xlabel("records (log scale)")
    ax.legend()
    ax.set_title("Records per category")
    fig.tight_layout()
    made["categories"] = save_png(fig, dpi=110, path=plots / "categories.png")
    if rejected:
        rules = [r for r, _ in rejected.most_common()]
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(rules) + 1.2))
        ax.barh(rules, [rejected[r] for r in rules], color="tab:red")
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("rejected records (log scale)")
        ax.set_title("Rejections per rule")
        fig.tight_layout()
        made["rejections"] = save_png(fig, dpi=110, path=plots / "rejections.png")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    lengths = [len(answer_text(r)) for r in train]
    ax.hist([min(n, 3000) for n in lengths], bins=60)
    ax.set_xlabel("answer length in characters (clipped at 3000)")
    ax.set_ylabel("train records")
    ax.set_title("Answer lengths")
    fig.tight_layout()
    made["lengths"] = save_png(fig, dpi=110, path=plots / "lengths.png")
    return made
