"""The smoke split checked without the dedup code that built it: every validation record against
every training record, in plain Python.

``test_prepare_data`` checks leak-freedom with ``recipes.prepare_data.dedup`` itself, so a bug in
the shingling, the MinHash estimate or the LSH banding would pass unseen there. Here the texts,
the normalisation and the character n-gram Jaccard are written out again and computed exactly.
"""

from __future__ import annotations

import json
import unicodedata
from bisect import bisect_left
from pathlib import Path

import pytest

from legal_edge.settings.loader import load_config
from recipes.prepare_data import Config, run
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the smoke config (15-50 s on 2 shared cores)


def record_text(rec: dict) -> str:
    if rec.get("messages"):
        return "\n".join(m["content"] for m in rec["messages"])
    return "\n".join(rec.get(k) or "" for k in ("instruction", "input", "output"))


def normalised(text: str) -> str:
    # NFKC, lower case, letters/digits/CJK only: punctuation and spacing do not make a new record
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def shingles(text: str, n: int) -> frozenset[str]:
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, legal_data: Path) -> tuple[Config, Path]:
    cfg = load_config(
        Config,
        REPO / "recipes" / "configs" / "data" / "smoke.yaml",
        [
            f"data_root={legal_data}",
            f"output_dir={tmp_path_factory.mktemp('smoke')}",
            "plots=false",
        ],
    )
    return cfg, run(cfg)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def test_no_validation_record_repeats_a_training_record(smoke) -> None:
    _, out = smoke
    train = {normalised(record_text(r)) for r in rows(out / "train.jsonl")}
    val = [normalised(record_text(r)) for r in rows(out / "val.jsonl")]
    assert len(val) > 100 and len(train) > 2000  # a real split, not an empty side
    assert not [v[:80] for v in val if v in train]


def closest_pair(val: list[str], train: list[str], n: int, threshold: float) -> tuple:
    """(Jaccard, validation text, training text) of the most similar pair that can reach
    ``threshold``; exact, no sketching."""
    train_sets = sorted(((shingles(normalised(t), n), t) for t in train), key=lambda p: len(p[0]))
    sizes = [len(s) for s, _ in train_sets]
    worst: tuple = (0.0, "", "")
    for text in val:
        a = shingles(normalised(text), n)
        # Every pair is compared except those whose sizes alone rule it out: Jaccard(A, B) <=
        # min(|A|, |B|) / max(|A|, |B|), so only |B| in [t|A|, |A|/t] can reach the threshold t.
        lo = bisect_left(sizes, threshold * len(a))
        hi = bisect_left(sizes, len(a) / threshold + 1)
        for b, other in train_sets[lo:hi]:
            shared = len(a & b)
            jaccard = shared / (len(a) + len(b) - shared)
            if jaccard > worst[0]:
                worst = (jaccard, text[:60], other[:60])
    return worst


def test_no_validation_record_is_a_near_copy_of_a_training_record(smoke) -> None:
    cfg, out = smoke
    # The pipeline's own definition of a near copy: Jaccard of character n-grams >= threshold.
    # group_threshold (0.6) is not asserted: it is applied to MinHash estimates (64 permutations,
    # about +-0.06), and on 2026-11-30 the exact comparison found cross pairs up to 0.66 (two
    # templated refusals, two one-word translation prompts), all far below a near copy.
    n, threshold = cfg.dedup.ngram, cfg.dedup.threshold
    train = [record_text(r) for r in rows(out / "train.jsonl")]
    val = [record_text(r) for r in rows(out / "val.jsonl")]
    worst = closest_pair(val, train, n, threshold)
    assert worst[0] < threshold, worst


def test_the_check_finds_a_planted_leak(smoke) -> None:
    # The comparison above must be able to fail: a training record with its last character
    # changed, put into validation, is found above the threshold.
    cfg, out = smoke
    train = [record_text(r) for r in rows(out / "train.jsonl")]
    planted = max(train[:50], key=len)
    planted = planted[:-1] + ("甲" if planted[-1] != "甲" else "乙")
    worst = closest_pair([planted], train, cfg.dedup.ngram, cfg.dedup.threshold)
    assert worst[0] >= cfg.dedup.threshold and worst[1] == planted[:60]
