"""Outputs of a data-preparation run: the sets, the rejections, the report, the manifest.

Every file is written atomically; ``report.md``/``report.html`` come from ``report.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, atomic_write_text, sha256_file
from legal_edge.prompts import record_to_messages
from legal_edge.settings.loader import to_dict
from recipes.shared.manifest import library_versions
from recipes.shared.paths import remove_stale_temps
from recipes.shared.prompt_formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE
from recipes.shared.records import public
from recipes.shared.report import write_report

from .config import Config
from .plots import make_plots
from .report import build_report
from .state import RunState
from .synthesis import SOURCE as SYNTHETIC_SOURCE

# The libraries whose versions the data manifest records.
PACKAGES = ("legal-edge", "numpy", "datasketch", "matplotlib", "python-docx", "pypdf")


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_outputs(cfg: Config, state: RunState, train: list, val: list, elapsed: float) -> Path:
    """The sets, rejections, report and manifest of a run in ``cfg.output_dir``; returns it."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a killed run's atomic writes left
    _write_sets(out, state, train, val)
    counts = _counts(state, train, val)
    plots = make_plots(out, train, val, Counter(counts["rejected_per_rule"])) if cfg.plots else {}
    report = build_report(cfg, state, train, val, counts, elapsed, plots)
    write_report(out, report, title="data report")
    _write_manifest(out, cfg, state, counts)
    return out


def _write_sets(out: Path, state: RunState, train: list, val: list) -> None:
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


def _counts(state: RunState, train: list, val: list) -> dict[str, Any]:
    """What went where, by source, licence, category and rule (report and manifest)."""

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

    return {
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
        "mix": getattr(state, "mix", {}),
    }


def _write_manifest(out: Path, cfg: Config, state: RunState, counts: dict[str, Any]) -> None:
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
            "versions": library_versions(PACKAGES, missing="not installed"),
            "timings": [
                {"step": t.name, "records": t.records, "seconds": round(t.seconds, 3)}
                for t in state.timings
            ],
            "counts": counts,
        },
    )
