"""The retrieval benchmark's arithmetic and its split: metrics per question, a leak-free split
(near-duplicate questions on one side), expansion terms only from the items given."""

from __future__ import annotations

import numpy as np

from recipes.bench.retrieval import expansion_of, per_question, ratio, summary
from recipes.bench.retrieval_set import Item, split_items

A, B, C, D = (("法", str(n)) for n in range(1, 5))


def _item(
    query: str, gold: set, area: str = "民法典", kind: str = "single", group: str = ""
) -> Item:
    return Item(f"x:{query}", kind, query, frozenset(gold), area, group)


def test_recall_hit_and_reciprocal_rank_per_question() -> None:
    ranking = {"q1": [A, B, C], "q2": [C, D, A, B], "q3": []}
    items = [_item("q1", {B, D}), _item("q2", {A}), _item("q3", {A})]
    cols, times = per_question(lambda q: ranking[q], items)
    assert list(cols["recall@1"]) == [0, 0, 0]
    assert list(cols["recall@3"]) == [0.5, 1, 0]
    assert list(cols["hit@3"]) == [1, 1, 0]
    assert list(cols["mrr"]) == [0.5, 1 / 3, 0]
    assert len(times) == 3
    boot = np.random.default_rng(0).integers(0, 3, (200, 3))
    mean, low, high = summary(cols, boot)["recall@3"]
    assert mean == 0.5 and 0 <= low <= mean <= high <= 1
    assert ratio(cols["recall@3"], cols["hit@3"], boot)[0] == 0.75


def test_split_keeps_near_duplicates_together_and_cases_apart() -> None:
    base = "我和老公结婚五年了，他出轨还打我，我想离婚，孩子的抚养权怎么判，财产怎么分"
    items = [_item(base + "？", {A}), _item(base + "。", {A})]  # a near duplicate pair
    items += [
        _item(f"第{i}个问题：借钱不还，欠条上写了利息{i}分，能起诉吗", {B}) for i in range(40)
    ]
    items += [_item("案情：某公司拖欠工资", {C}, "社会法", "case")]
    parts = split_items(items, 0.5)
    assert parts["cases"] == [items[-1]]
    assert len(parts["tuning"]) + len(parts["test"]) == len(items) - 1
    sides = {side for side, got in parts.items() for it in got if it.query.startswith(base)}
    assert len(sides) == 1  # both copies on one side
    assert parts == split_items(items, 0.5)  # deterministic


def test_expansion_terms_come_from_the_items_given() -> None:
    exp = expansion_of([_item("老公出轨要离婚", {A, B}), _item("借钱不还", {C})], "test")
    terms = {(a["law"], a["article"]): a["terms"] for a in exp["articles"]}
    assert set(terms) == {A, B, C}
    assert "出轨" in terms[A] and terms[A] == terms[B] and "出轨" not in terms[C]
    assert "research" in exp["licence"]
