"""A small, balanced training mix for the shipped CPU adapter, built straight from legal-data.

``python -m recipes.train.legal_mix --data ../shared/legal-data --out runs/data/legal_mix``

A stopgap for when ``legal-recipes prepare-data`` output is not at hand: it writes the same record
format (``train.jsonl``, ``val.jsonl``, ``manifest.json``) and uses the data-prep stage's own row
converters (``recipes.prepare_data.formats``), so MCQ prompts ("答案：B") and refusal texts are exactly
those the evaluation expects. The mix is sized for about an hour of CPU training and weighted
toward what the adapter is judged on: single-answer bar-exam MCQ first, then refusals of harmful
requests and helpful answers to ordinary legal questions (so refusing does not become a habit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, atomic_write_text, sha256_file

# (file, converter, how many, row filter, licence, category)
MIX: list[tuple[str, str, int, str, str, str]] = [
    ("mcq/jecqa_train.jsonl", "mcq", 700, "single", "research-only (JEC-QA)", "exam_mcq"),
    ("mcq/lexeval_choice.jsonl", "mcq", 700, "single", "MIT", "exam_mcq"),
    ("mcq/lawbench_case_analysis.jsonl", "mcq", 250, "single", "Apache-2.0", "exam_mcq"),
    ("mcq/jecqa_train.jsonl", "mcq", 150, "multi", "research-only (JEC-QA)", "exam_mcq"),
    ("safety/jade_harmful_questions.jsonl", "safety_refusal", 550, "all", "MIT", "safety"),
    ("safety/jade_alignment_pairs.jsonl", "safety_pairs", 250, "all", "MIT", "safety"),
    (
        "qa/lawyer_llama_single_turn.jsonl",
        "alpaca",
        650,
        "all",
        "research-only (lawyer-llama)",
        "consultation",
    ),
    (
        "qa/lawyer_llama_multi_turn.jsonl",
        "messages",
        80,
        "all",
        "research-only (lawyer-llama)",
        "consultation",
    ),
    ("cases/safelawbench_hk_en.jsonl", "case", 120, "all", "Apache-2.0", "consultation"),
]
VAL_FRACTION = 0.04


def _keep(row: dict[str, Any], rule: str) -> bool:
    if rule == "all":
        return True
    multi = bool(row.get("multi")) if "multi" in row else len(str(row.get("answer", ""))) > 1
    return multi if rule == "multi" else not multi


def build(data: Path, out: Path, seed: int = 7) -> Path:
    from recipes.prepare_data.formats import convert_row
    from recipes.prepare_data.records import RowError

    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    sources = []
    for rel, fmt, count, rule, licence, category in MIX:
        path = data / rel
        rows = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                row = json.loads(line)
                if _keep(row, rule):
                    rows.append((lineno, row))
        rng.shuffle(rows)
        kept, rejected = 0, {}
        for lineno, row in rows:
            if kept >= count:
                break
            try:
                _, fields = convert_row(fmt, row)
            except RowError as exc:
                rejected[exc.rule] = rejected.get(exc.rule, 0) + 1
                continue
            rid = row.get("id") or hashlib.sha1(line_key(rel, lineno).encode()).hexdigest()[:12]
            records.append(
                {
                    "id": str(rid),
                    **fields,
                    "source": row.get("source") or rel,
                    "category": category,
                    "license": licence,
                }
            )
            kept += 1
        sources.append(
            {
                "path": rel,
                "sha256": sha256_file(path),
                "format": fmt,
                "rule": rule,
                "kept": kept,
                "rejected": rejected,
                "license": licence,
            }
        )
    rng.shuffle(records)
    n_val = max(1, int(len(records) * VAL_FRACTION))
    val, train = records[:n_val], records[n_val:]
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        atomic_write_text(
            out / name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    atomic_write_json(
        out / "manifest.json",
        {
            "stage": "legal_mix",
            "data_root": str(data),
            "seed": seed,
            "sources": sources,
            "counts": {"train": len(train), "val": len(val)},
            "note": (
                "stopgap mix built by recipes.train.legal_mix (prepare-data output not used)"
            ),
        },
    )
    return out


def line_key(rel: str, lineno: int) -> str:
    return f"{rel}:{lineno}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/legal-data"))
    ap.add_argument("--out", type=Path, default=Path("runs/data/legal_mix"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(build(args.data, args.out, args.seed))


if __name__ == "__main__":
    main()
