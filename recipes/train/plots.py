"""The loss curve a person looks at: train loss per step (and smoothed) with validation points."""

from __future__ import annotations

from pathlib import Path

from recipes.shared.plots import pyplot, save_png


def plot_losses(history: dict[str, list], path: Path, title: str = "") -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    train = history.get("train") or []
    if train:
        xs, ys = zip(*train, strict=True)
        ax.plot(xs, ys, color="#9ecae1", lw=0.8, label="train (per step)")
        k = max(1, len(ys) // 25)
        smooth = [
            sum(ys[max(0, i - k + 1) : i + 1]) / len(ys[max(0, i - k + 1) : i + 1])
            for i in range(len(ys))
        ]
        ax.plot(xs, smooth, color="#08519c", lw=1.6, label=f"train (mean of {k})")
    val = history.get("val") or []
    if val:
        vx, vy = zip(*val, strict=True)
        ax.plot(vx, vy, "o-", color="#e6550d", lw=1.4, label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy on answer tokens")
    ax.set_title(title or "LoRA training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_png(fig, path)
