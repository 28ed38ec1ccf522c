"""Leak-free train/validation split.

Whole groups (near-duplicate clusters, an article with its synthetic questions) go to one side,
so validation never holds a near copy of a training record. Stratified by category: each category
sends about ``val_fraction`` of its records (at most ``max_val_per_category``) to validation.
Deterministic: the same records, groups and seed give the same split.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .config import SplitConfig


def split_records(
    records: Sequence[dict[str, Any]], groups: Sequence[str], cfg: SplitConfig
) -> tuple[list[int], list[int]]:
    """(train indices, validation indices), both in input order."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_category: dict[str, list[str]] = defaultdict(list)
    cat_size: dict[str, int] = defaultdict(int)
    for g, idx in members.items():
        cat = records[idx[0]]["category"]  # a group belongs to the category of its first record
        by_category[cat].append(g)
        cat_size[cat] += len(idx)
    val: set[int] = set()
    for cat in sorted(by_category):
        target = min(cfg.max_val_per_category, round(cfg.val_fraction * cat_size[cat]))
        if target <= 0:
            continue
        seed = int(hashlib.sha1(f"{cfg.seed}:{cat}".encode()).hexdigest()[:12], 16)
        order = sorted(by_category[cat])
        random.Random(seed).shuffle(order)
        taken = 0
        for g in order:
            if taken >= target:
                break
            size = len(members[g])
            if taken + size > target:
                continue  # too big for what is left: keep it whole, on the train side
            val.update(members[g])
            taken += size
    train = [i for i in range(len(records)) if i not in val]
    return train, sorted(val)
