"""The compression table (size | memory | speed | quality loss) as Markdown, HTML, a plot."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_text

COLUMNS = [
    ("variant", "variant"),
    ("size_mb", "file MB"),
    ("peak_rss_mb", "peak RSS MB"),
    ("load_s", "load s"),
    ("decode_tok_s", "decode tok/s"),
    ("decode_tok_per_cpu_s", "tok per CPU-s"),
    ("kl_mean", "KL vs F16"),
    ("top1_agreement", "top-1 agree"),
    ("perplexity", "perplexity"),
    ("accuracy", "MCQ acc (95% CI)"),
    ("accuracy_drop", "acc drop"),
    ("gate", "gate"),
    ("published", "published as"),
]


def _fmt(key: str, row: dict[str, Any]) -> str:
    v = row.get(key)
    if key == "accuracy":
        acc = row.get("accuracy")
        if not acc or acc.get("value") is None:
            return "-"
        return f"{acc['value']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}] n={acc['n']}"
    if v is None:
        return "-"
    if key == "kl_mean":
        return f"{v:.5f}"
    if key == "perplexity":
        return f"{v:.4g}"
    if key in ("top1_agreement", "accuracy_drop"):
        return f"{v:+.3f}" if key == "accuracy_drop" else f"{v:.3f}"
    if isinstance(v, float):
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    return str(v)


def table_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(t for _, t in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(k, r) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Size against KL divergence and accuracy, one point per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get("size_mb")]
    if not pts:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in pts:
        axes[0].scatter(r["size_mb"], r.get("kl_mean") or 0.0)
        axes[0].annotate(r["variant"], (r["size_mb"], r.get("kl_mean") or 0.0), fontsize=8)
        acc = (r.get("accuracy") or {}).get("value")
        if acc is not None:
            axes[1].scatter(r["size_mb"], acc)
            axes[1].annotate(r["variant"], (r["size_mb"], acc), fontsize=8)
    axes[0].set(xlabel="file size (MB)", ylabel="mean KL vs F16 (nats/token)", title="quality loss")
    axes[1].set(xlabel="file size (MB)", ylabel="legal MCQ accuracy", title="legal accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_reports(out: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` in ``out`` from the export summary."""
    rows = summary["rows"]
    chart = plot(rows, out / "compression.png")
    parity = summary.get("parity") or {}
    lines = [
        f"# Export report: {summary['name']}",
        "",
        f"Source: `{summary['source']}` ({summary['source_kind']}); "
        f"merge: {summary['merge']['method']} into {summary['merge']['outtype'].upper()}; "
        "reference for KL: the float merged GGUF.",
        "",
        "## Compression table",
        "",
        "Measured on this machine: file size, peak RSS of a process serving the model (context "
        f"{summary['measure']['serve_ctx']}), load time, greedy decode speed "
        f"({summary['measure']['threads']} threads; tok per CPU-s divides by the process's own CPU "
        f"time, which a busy machine does not distort; 1-min load average during the runs: "
        f"{summary['measure'].get('load_average')}), KL divergence and top-1 agreement against the "
        f"F16 merge over {summary['measure']['positions']} validation positions, perplexity on the "
        f"same tokens, legal multiple-choice accuracy ({summary['quality']['metric']}) with the "
        "evaluation harness.",
        "",
        table_markdown(rows),
        "",
    ]
    if chart:
        lines += [f"![compression]({chart.name})", ""]
    gate = summary["gate"]
    lines += [
        "## Quality gate",
        "",
        f"A variant is published only if its accuracy is at most {gate['max_accuracy_drop']} "
        f"below the F16 merge"
        + (
            f" and its mean KL is at most {gate['max_kl']}"
            if gate.get("max_kl") is not None
            else ""
        )
        + ".",
        "",
    ]
    for r in rows:
        if r.get("gate") == "refused":
            lines.append(f"- **{r['variant']} refused**: {r.get('gate_reason')}")
    lines += ["", "## Parity checks", ""]
    tokp = parity.get("tokenizer") or {}
    logp = parity.get("logits") or {}
    if not parity:
        lines.append("Parity checks were disabled.")
    else:
        lines.append(
            f"- tokenizer: {tokp.get('mismatches')} mismatching of {tokp.get('texts')} "
            f"texts ({tokp.get('tokens')} tokens) -> {'pass' if tokp.get('ok') else 'FAIL'}"
        )
        if "adapter_vs_merged_max_abs_diff" in logp:
            lines.append(
                f"- adapter-on-base vs merged HF: max |logit diff| "
                f"{logp['adapter_vs_merged_max_abs_diff']:.3g}"
            )
        lines.append(
            f"- merged HF vs float GGUF: mean KL {logp.get('merged_vs_gguf_kl_mean', 0):.3g},"
            f" top-1 {logp.get('merged_vs_gguf_top1', 0):.3f}, max |logit diff| "
            f"{logp.get('merged_vs_gguf_max_abs_diff', 0):.3g} -> "
            f"{'pass' if logp.get('ok') else 'FAIL'}"
        )
    lines += ["", "## GPTQ (vLLM)", "", summary["gptq"]["message"], ""]
    if summary.get("eval_report"):
        lines += [f"Accuracy details: [{summary['eval_report']}]({summary['eval_report']})", ""]
    md = "\n".join(lines)
    md_path = atomic_write_text(out / "report.md", md)
    html_path = atomic_write_text(out / "report.html", _html(summary, rows, chart, md))
    return md_path, html_path


def _html(summary: dict[str, Any], rows: list[dict[str, Any]], chart: Path | None, md: str) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(k, r))}</td>" for k, _ in COLUMNS) + "</tr>"
        for r in rows
    )
    img = f'<img src="{chart.name}" alt="compression chart">' if chart else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Export "
        f"{html.escape(summary['name'])}</title><style>td,th{{border:1px solid #ccc;"
        f"padding:3px 6px}}table{{border-collapse:collapse}}</style></head><body>"
        f"<h1>Export report: {html.escape(summary['name'])}</h1><table><tr>{head}</tr>{body}"
        f"</table>{img}<pre>{html.escape(md)}</pre></body></html>"
    )
