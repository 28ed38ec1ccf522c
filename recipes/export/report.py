"""The compression table (size | memory | speed | quality loss) as Markdown and HTML, with a plot.

One Jinja template over the export summary, rendered by ``recipes.shared.report`` (the HTML twin
embeds the plot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipes.shared.plots import pyplot, save_png
from recipes.shared.report import md_table, render_markdown, write_report

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

TEMPLATE = """\
# Export report: {{ s.name }}

Source: `{{ s.source }}` ({{ s.source_kind }}); merge: {{ s.merge.method }} into \
{{ s.merge.outtype | upper }}; reference for KL: the float merged GGUF.

## Compression table

Measured on this machine: file size, peak RSS of a process serving the model (context \
{{ s.measure.serve_ctx }}), load time, greedy decode speed ({{ s.measure.threads }} threads; tok \
per CPU-s divides by the process's own CPU time, which a busy machine does not distort; 1-min \
load average during the runs: {{ s.measure.get("load_average") }}), KL divergence and top-1 \
agreement against the F16 merge over {{ s.measure.positions }} validation positions, perplexity \
on the same tokens, legal multiple-choice accuracy ({{ s.quality.metric }}) with the evaluation \
harness.

{{ table }}
{% if chart %}

![compression]({{ chart }})
{% endif %}

## Quality gate

A variant is published only if its accuracy is at most {{ s.gate.max_accuracy_drop }} below the \
F16 merge{% if s.gate.get("max_kl") is not none %} and its mean KL is at most \
{{ s.gate.max_kl }}{% endif %}.

{% for r in refused %}
- **{{ r.variant }} refused**: {{ r.get("gate_reason") }}
{% endfor %}

## Parity checks

{% if not parity %}
Parity checks were disabled.
{% else %}
- tokenizer: {{ tok.get("mismatches") }} mismatching of {{ tok.get("texts") }} texts \
({{ tok.get("tokens") }} tokens) -> {{ "pass" if tok.get("ok") else "FAIL" }}
{% if "adapter_vs_merged_max_abs_diff" in logits %}
- adapter-on-base vs merged HF: max |logit diff| \
{{ "%.3g" | format(logits.adapter_vs_merged_max_abs_diff) }}
{% endif %}
- merged HF vs float GGUF: mean KL {{ "%.3g" | format(logits.get("merged_vs_gguf_kl_mean", 0)) }}, \
top-1 {{ "%.3f" | format(logits.get("merged_vs_gguf_top1", 0)) }}, max |logit diff| \
{{ "%.3g" | format(logits.get("merged_vs_gguf_max_abs_diff", 0)) }} -> \
{{ "pass" if logits.get("ok") else "FAIL" }}
{% endif %}

## GPTQ (vLLM)

{{ s.gptq.message }}
{% if s.get("eval_report") %}

Accuracy details: [{{ s.eval_report }}]({{ s.eval_report }})
{% endif %}
"""


def fmt(key: str, row: dict[str, Any]) -> str:
    """One table cell: accuracy with its interval, KL to 5 places, the rest by size."""
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
    if key == "accuracy_drop":
        return f"{v:+.3f}"
    if key == "top1_agreement":
        return f"{v:.3f}"
    if isinstance(v, float):
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    return str(v)


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The compression table, one row per variant."""
    return md_table(([fmt(k, r) for k, _ in COLUMNS] for r in rows), [t for _, t in COLUMNS])


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Size against KL divergence and accuracy, one point per variant."""
    pts = [r for r in rows if r.get("size_mb")]
    if not pts:
        return None
    plt = pyplot()
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
    return save_png(fig, path, dpi=100)


def write_reports(out: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` in ``out`` from the export summary."""
    rows = summary["rows"]
    chart = plot(rows, out / "compression.png")
    parity = summary.get("parity") or {}
    md = render_markdown(
        TEMPLATE,
        s=summary,
        table=table_markdown(rows),
        chart=chart.name if chart else None,
        refused=[r for r in rows if r.get("gate") == "refused"],
        parity=parity,
        tok=parity.get("tokenizer") or {},
        logits=parity.get("logits") or {},
    )
    return write_report(out, md, f"Export {summary['name']}")
