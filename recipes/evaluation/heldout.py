"""Evaluation items no adapter trained on: an eval file minus every record of the given
training sets, matched by the source's own id.

    .venv/bin/python -m recipes.evaluation.heldout \\
        --eval ../shared/legal-data/mcq/jecqa_train.jsonl --single-answer \\
        --train runs/data/legal_zh_mix/train.jsonl --train runs/data/legal_mix/train.jsonl \\
        --out runs/eval/heldout/jecqa_single_heldout.jsonl

Training ids carry prefixes of the pipeline that wrote them (``jecqa/jecqa/1_781`` for the source
id ``1_781`` of file ``jecqa/…``; ``jade_refusals/jade-v2-easy/9`` for ``jade-v2-easy/9``): an eval
id counts as trained on when a training id equals it or ends with ``/`` + it.
``recipes/configs/eval/heldout.yaml`` evaluates the files this writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from legal_edge.fileio import atomic_write_text
from recipes.shared.jsonl import read_jsonl as read_records


def trained_ids(paths: list[Path]) -> set[str]:
    """Every id of the training files and each of its ``/``-suffixes."""
    out: set[str] = set()
    for path in paths:
        for _, rec in read_records(path):
            parts = str(rec.get("id", "")).split("/")
            out.update("/".join(parts[i:]) for i in range(len(parts)))
    return out


def heldout(eval_path: Path, train: list[Path], single_answer: bool) -> tuple[list[dict], int]:
    """The eval rows not trained on, and how many were dropped as trained on."""
    seen = trained_ids(train)
    keep, dropped = [], 0
    for lineno, row in read_records(eval_path):
        if "id" not in row:
            raise ValueError(f"{eval_path}:{lineno}: no id: held-out matching needs one")
        if single_answer and len(str(row.get("answer", ""))) != 1:
            continue
        if str(row["id"]) in seen:
            dropped += 1
        else:
            keep.append(row)
    return keep, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, required=True, help="eval items (JSONL with ids)")
    ap.add_argument("--train", type=Path, action="append", required=True, help="train.jsonl")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--single-answer", action="store_true", help="MCQ: one correct letter only")
    args = ap.parse_args()
    keep, dropped = heldout(args.eval, args.train, args.single_answer)
    atomic_write_text(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
    print(json.dumps({"out": str(args.out), "kept": len(keep), "trained_on": dropped}))


if __name__ == "__main__":
    main()
