"""Evaluation items no adapter trained on: an eval file minus every record of the given
training sets, matched by the source's own id.

\b
    .venv/bin/legal-recipes build-heldout \\
        --eval ../shared/legal-data/mcq/jecqa_train.jsonl --single-answer \\
        --train runs/data/legal_zh_mix/train.jsonl --train runs/data/legal_mix/train.jsonl \\
        --out runs/eval/heldout/jecqa_single_heldout.jsonl

Training ids carry prefixes of the pipeline that wrote them (``jecqa/jecqa/1_781`` for the source
id ``1_781`` of file ``jecqa/…``; ``jade_refusals/jade-v2-easy/9`` for ``jade-v2-easy/9``): an eval
id counts as trained on when a training id equals it or ends with ``/`` + it.
``recipes/configs/eval/heldout.yaml`` evaluates the files this writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

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


@click.command(name="build-heldout", help=__doc__)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(path_type=Path),
    required=True,
    help="eval items (JSONL with ids)",
)
@click.option(
    "--train",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="a training set's train.jsonl (repeatable)",
)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--single-answer", is_flag=True, help="MCQ: one correct letter only")
def main(eval_path: Path, train: tuple[Path, ...], out: Path, single_answer: bool) -> None:
    try:
        keep, dropped = heldout(eval_path, list(train), single_answer)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
    click.echo(json.dumps({"out": str(out), "kept": len(keep), "trained_on": dropped}))


if __name__ == "__main__":
    main()
