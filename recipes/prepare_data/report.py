"""Outputs of a data-preparation run: the sets, the rejections, the report, the manifest.

Every file is written atomically. The report (Markdown and HTML with the same plots, PNG files
embedded in the HTML) says what each source and licence contributed, what each rule dropped with
examples, how long each step took, and where the decontamination and dedup stood.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from legal_edge.config import to_dict
from legal_edge.fileio import atomic_write_json, atomic_write_text, sha256_file
from legal_edge.prompts import record_to_messages
from recipes.prepare_data.formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE
from recipes.prepare_data.plots import make_plots
from recipes.prepare_data.records import public
from recipes.prepare_data.synthesis import SOURCE as SYNTHETIC_SOURCE

if TYPE_CHECKING:
    from recipes.prepare_data.config import Config
    from recipes.prepare_data.stage import RunState


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("legal-edge", "numpy", "datasketch", "matplotlib", "python-docx", "pypdf"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in r) + " |"
        for r in rows
    ]
    return "\n".join(lines)


def build_report(
    cfg: Config,
    state: RunState,
    train: list,
    val: list,
    counts: dict[str, Any],
    elapsed: float,
    plots: dict[str, Path],
) -> str:
    rej = counts["rejected_per_rule"]
    md = [
        f"# Data preparation report: `{cfg.output_dir}`",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {elapsed:.1f} s. "
        f"**{len(train)} train**, **{len(val)} validation**, "
        f"**{sum(rej.values())} rejected** "
        "(see `rejected.jsonl`: rule, reason, origin `file:line`).",
        "",
        "## Sources",
        "",
    ]
    md.append(
        _table(
            ["source (config)", "rows read", "train", "val", "rejected", "synthesized from it"],
            [
                [
                    s,
                    n,
                    counts["train_per_source_config"].get(s, 0),
                    counts["val_per_source_config"].get(s, 0),
                    counts["rejected_per_source_config"].get(s, 0),
                    counts["synthetic_per_source_config"].get(s, 0),
                ]
                for s, n in state.read_counts.items()
            ],
        )
    )
    md += [
        "",
        "## Licences (what each contributed)",
        "",
        _table(
            ["licence", "train", "val", "rejected"],
            [
                [
                    lic,
                    counts["train_per_license"].get(lic, 0),
                    counts["val_per_license"].get(lic, 0),
                    counts["rejected_per_license"].get(lic, 0),
                ]
                for lic in sorted(
                    set(counts["train_per_license"])
                    | set(counts["val_per_license"])
                    | set(counts["rejected_per_license"])
                )
            ],
        ),
        "",
        "A commercially clean set is one switch away: `--set allow_licenses=[...]` or "
        "`--set exclude_sources=[...]`.",
        "",
        "## Categories",
        "",
        _table(
            ["category", "train", "val"],
            [
                [c, counts["train_per_category"].get(c, 0), counts["val_per_category"].get(c, 0)]
                for c in sorted(set(counts["train_per_category"]) | set(counts["val_per_category"]))
            ],
        ),
    ]
    if "categories" in plots:
        md += ["", "![categories](plots/categories.png)"]
    md += ["", "## Rejections per rule", ""]
    examples: dict[str, list[Any]] = {}
    for r in state.rejected:
        if len(examples.setdefault(r.rule, [])) < 2:
            examples[r.rule].append(r)
    md.append(
        _table(
            ["rule", "count", "example origin", "example reason"],
            [
                [rule, n, examples[rule][0].origin, examples[rule][0].reason[:120]]
                for rule, n in Counter(rej).most_common()
            ],
        )
    )
    if "rejections" in plots:
        md += ["", "![rejections](plots/rejections.png)"]
    md += [
        "",
        "## Deduplication, synthesis, PII, decontamination",
        "",
        f"- near-dup candidate pairs checked: {state.dedup.get('candidate_pairs', 0)}; pairs kept "
        "apart because their numbers (or MCQ answers) differ: "
        f"{state.dedup.get('number_trap_saves', 0)}; "
        f"split groups: {state.dedup.get('groups', 0)}",
        f"- synthesized from statutes: {dict(state.synthesis)}",
        f"- PII redacted: {dict(state.pii_counts) or 'none found'}",
        f"- evaluation files (items): {state.eval_files or 'none configured'}",
        f"- contaminated records dropped: {dict(state.decontam) or 'none'}",
    ]
    if state.decoded_as:
        md.append(f"- files decoded as non-UTF-8: {state.decoded_as}")
    md += [
        "",
        "## Prompt formats",
        "",
        f"- multiple choice: instruction `{MCQ_SINGLE}` (or `{MCQ_MULTI}`), input = question + "
        f"`A. …` lines, output starts with `{ANSWER_PREFIX}<letters>`.",
        "- harmful requests: a templated refusal naming the reason; alignment pairs: `chosen`.",
        "",
        "## One training example per category",
        "",
        *_examples(train),
        "## Timing (records/s per step)",
        "",
        _table(
            ["step", "records", "seconds", "records/s"],
            [[t.name, t.records, f"{t.seconds:.2f}", f"{t.rate:.0f}"] for t in state.timings],
        ),
    ]
    if "lengths" in plots:
        md += ["", "![lengths](plots/lengths.png)"]
    return "\n".join(md) + "\n"


def _examples(train: list) -> list[str]:
    seen: dict[str, dict[str, Any]] = {}
    for r in train:
        seen.setdefault(r["category"], r)
    lines = []
    for cat in sorted(seen):
        msgs = record_to_messages(public(seen[cat]))
        turns = " / ".join(f"{m['role']}: {m['content'][:140]}" for m in msgs[:2])
        lines += [f"- **{cat}** (`{seen[cat]['id']}`): {turns.replace(chr(10), ' ')}"]
    return [*lines, ""]


def md_to_html(md: str, out: Path) -> str:
    """A small Markdown subset (headings, tables, lists, images) as self-contained HTML."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            level = len(ln) - len(ln.lstrip("#"))
            body.append(f"<h{level}>{html.escape(ln[level:].strip())}</h{level}>")
        elif ln.startswith("| "):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not lines[i].startswith("|---"):
                    rows.append([html.escape(c.strip()) for c in lines[i].strip("|").split(" | ")])
                i += 1
            head, *rest = rows
            body.append(
                "<table><tr>"
                + "".join(f"<th>{c}</th>" for c in head)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                + "</table>"
            )
            continue
        elif ln.startswith("!["):
            rel = ln[ln.index("(") + 1 : -1]
            data = base64.b64encode((out / rel).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(rel)}" src="data:image/png;base64,{data}">')
        elif ln.startswith("- "):
            body.append(f"<li>{html.escape(ln[2:])}</li>")
        elif ln.strip():
            body.append(f"<p>{html.escape(ln)}</p>")
        i += 1
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>data report</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_outputs(cfg: Config, state: RunState, train: list, val: list, elapsed: float) -> Path:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "train.jsonl", _jsonl([public(r) for r in train]))
    atomic_write_text(out / "val.jsonl", _jsonl([public(r) for r in val]))
    atomic_write_text(out / "rejected.jsonl", _jsonl([r.to_json() for r in state.rejected]))
    # LLaMA-Factory: ShareGPT-style copies hold every record (single and multi-turn) losslessly.
    for name, rows in (("train", train), ("val", val)):
        atomic_write_text(
            out / f"{name}_sharegpt.jsonl",
            _jsonl([{"messages": record_to_messages(public(r))} for r in rows]),
        )
    tags = {
        "role_tag": "role",
        "content_tag": "content",
        "user_tag": "user",
        "assistant_tag": "assistant",
        "system_tag": "system",
    }
    atomic_write_json(
        out / "dataset_info.json",
        {
            f"legal_edge_{name}": {
                "file_name": f"{name}_sharegpt.jsonl",
                "formatting": "sharegpt",
                "columns": {"messages": "messages"},
                "tags": tags,
            }
            for name in ("train", "val")
        },
    )

    def per(rows: list, key: str) -> dict[str, int]:
        return dict(Counter(r[key] for r in rows).most_common())

    def per_config(rows: list, synthetic: bool = False) -> dict[str, int]:
        return dict(
            Counter(
                r["id"].split("/", 1)[0]
                for r in rows
                if (r["source"] == SYNTHETIC_SOURCE) == synthetic
            ).most_common()
        )

    counts = {
        "read_per_source_config": dict(state.read_counts),
        "train": len(train),
        "val": len(val),
        "rejected": len(state.rejected),
        "train_per_source": per(train, "source"),
        "val_per_source": per(val, "source"),
        "train_per_source_config": per_config(train),
        "val_per_source_config": per_config(val),
        "synthetic_per_source_config": per_config(train + val, synthetic=True),
        "rejected_per_source_config": dict(
            Counter(r.id.split("/", 1)[0] if r.id else r.source for r in state.rejected)
        ),
        "train_per_license": per(train, "license"),
        "val_per_license": per(val, "license"),
        "train_per_category": per(train, "category"),
        "val_per_category": per(val, "category"),
        "rejected_per_rule": dict(Counter(r.rule for r in state.rejected).most_common()),
        "rejected_per_license": dict(
            Counter(r.license for r in state.rejected if r.license).most_common()
        ),
        "pii_redacted": dict(state.pii_counts),
        "synthesis": dict(state.synthesis),
        "dedup": state.dedup,
        "decontaminated": dict(state.decontam),
    }
    plots = make_plots(out, train, val, Counter(counts["rejected_per_rule"])) if cfg.plots else {}
    report = build_report(cfg, state, train, val, counts, elapsed, plots)
    atomic_write_text(out / "report.md", report)
    atomic_write_text(out / "report.html", md_to_html(report, out))
    inputs = sorted({str(p) for p in state.input_files} | set(state.eval_files))
    atomic_write_json(
        out / "manifest.json",
        {
            "stage": "prepare-data",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "config": to_dict(cfg),
            "inputs": [
                {"path": p, "sha256": sha256_file(p), "size": Path(p).stat().st_size}
                for p in inputs
            ],
            "outputs": {
                "train": "train.jsonl",
                "val": "val.jsonl",
                "rejected": "rejected.jsonl",
                "dataset_info": "dataset_info.json",
            },
            "record_format": {
                "keys": ["id", "instruction", "input", "output", "source", "category", "license"],
                "multi_turn": "messages",
                "mcq": {"single": MCQ_SINGLE, "multi": MCQ_MULTI, "answer_prefix": ANSWER_PREFIX},
            },
            "versions": _versions(),
            "timings": [
                {"step": t.name, "records": t.records, "seconds": round(t.seconds, 3)}
                for t in state.timings
            ],
            "counts": counts,
        },
    )
    return out
