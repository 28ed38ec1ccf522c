"""Token lengths of a prepared training file per category, in the model's chat template, and how
many records (and tokens) fit each ``max_seq_len`` whole, as ``drop_truncated`` keeps them.

    PYTHONPATH=. .venv/bin/python bench/token_lengths.py runs/data/legal_zh_grounded/train.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from recipes.train.config import Config
from recipes.train.data import check_record, encode
from recipes.train.plan import _load_base

LIMITS = (384, 512, 640, 768, 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train_file", type=Path)
    ap.add_argument("--base-model", type=Path, default=Path("models/gemma3-270m"))
    args = ap.parse_args()
    base = _load_base(Config(base_model=args.base_model))
    total: dict[str, list[int]] = defaultdict(list)
    prompt: dict[str, list[int]] = defaultdict(list)
    with open(args.train_file, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            rec = json.loads(line)
            msgs = check_record(rec, f"{args.train_file}:{n}")
            ex, _ = encode(base.tokenizer, base.template, msgs, 10**6)
            total[rec["category"]].append(len(ex.input_ids))
            prompt[rec["category"]].append(len(ex.input_ids) - ex.n_answer)
    print(
        "| category | n | prompt p50 | total p50 | p90 | max | "
        + " | ".join(f"<= {m}" for m in LIMITS)
        + " |"
    )
    print("|---" * (6 + len(LIMITS)) + "|")
    every: list[int] = []
    for cat, v in sorted(total.items(), key=lambda kv: -len(kv[1])):
        v = sorted(v)
        every += v
        fits = " | ".join(str(sum(x <= m for x in v)) for m in LIMITS)
        print(
            f"| {cat} | {len(v)} | {statistics.median(prompt[cat]):.0f} | {v[len(v) // 2]} | "
            f"{v[int(0.9 * (len(v) - 1))]} | {v[-1]} | {fits} |"
        )
    for m in LIMITS:
        kept = [x for x in every if x <= m]
        print(f"max_seq_len {m}: {len(kept)} of {len(every)} records whole, {sum(kept)} tokens")


if __name__ == "__main__":
    main()
