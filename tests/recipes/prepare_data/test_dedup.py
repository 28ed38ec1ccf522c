"""Dedup: exact and near duplicates merge; texts differing only in numbers never do."""

from __future__ import annotations

import random

import numpy as np

from recipes.prepare_data.config import DedupConfig
from recipes.prepare_data.dedup import deduplicate, minhash_signatures

ARTICLE = (
    "用人单位违反本法规定解除或者终止劳动合同的，应当依照本法第四十七条规定的经济补偿标准的"
    "二倍向劳动者支付赔偿金。劳动者要求继续履行劳动合同的，用人单位应当继续履行。"
)


def run(texts, cats=None, answers=None, **kw):
    cfg = DedupConfig(**kw)
    return deduplicate(texts, cats or ["c"] * len(texts), cfg, answers=answers)


def test_exact_duplicate_ignores_whitespace_and_punctuation() -> None:
    res = run([ARTICLE, ARTICLE.replace("，", ", ") + "  "])
    assert res.duplicate_of == {1: (0, "exact_duplicate", 1.0)}


def test_near_duplicate_merges_small_wording_changes() -> None:
    variant = ARTICLE.replace("应当继续履行。", "应当继续履行合同。")
    res = run([ARTICLE, variant])
    assert res.duplicate_of[1][:2] == (0, "near_duplicate")


def test_number_trap_articles_amounts_and_dates_are_not_merged() -> None:
    pairs = [
        ("《劳动合同法》第十二条 " + ARTICLE, "《劳动合同法》第十三条 " + ARTICLE),
        ("第12条 " + ARTICLE, "第13条 " + ARTICLE),
        (ARTICLE + "赔偿金额为5000元。", ARTICLE + "赔偿金额为8000元。"),
        (ARTICLE + "本法自2008年1月1日起施行。", ARTICLE + "本法自2013年7月1日起施行。"),
    ]
    for a, b in pairs:
        a, b = a + ARTICLE, b + ARTICLE  # long enough that MinHash sees them as near-identical
        res = run([a, b])
        assert res.duplicate_of == {}, (a[:12], b[:12])
        # ...but they are related, so the split keeps them on one side
        assert res.group[0] == res.group[1]
        # with a threshold low enough to call them duplicates, only the number check keeps them
        loose = run([a, b], threshold=0.5, group_threshold=0.5)
        assert loose.duplicate_of == {} and loose.number_trap_saves == 1


def test_mcq_with_different_answers_is_kept() -> None:
    q = (
        "下列哪些情形适用旗国法？\nA. 船舶抵押权的设定\nB. 同国籍船舶在公海发生碰撞\n"
        "C. 共同海损理算\nD. 海事赔偿责任限制"
    )
    res = run([q + "\n答案：AB", q + "\n答案：AC"], answers=["答案：AB", "答案：AC"])
    assert res.duplicate_of == {}


def test_unrelated_texts_stay_apart_in_their_own_groups() -> None:
    res = run(
        [
            "夫妻一方婚前财产在婚后仍归一方所有，除非另有约定。",
            "交通事故责任由公安机关交通管理部门认定，当事人可以申请复核。",
        ]
    )
    assert res.duplicate_of == {} and res.group == [0, 1]


def test_skip_categories_keeps_exact_dedup_only() -> None:
    variant = ARTICLE.replace("应当继续履行。", "应当继续履行合同。")
    res = run([ARTICLE, variant, ARTICLE], cats=["statute"] * 3, skip_categories=("statute",))
    assert set(res.duplicate_of) == {2}


def test_minhash_estimates_jaccard() -> None:
    rng = random.Random(0)
    base = "".join(
        rng.choice("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成")
        for _ in range(600)
    )
    chars = list(base)
    for i in rng.sample(range(600), 12):
        chars[i] = "X"
    other = "".join(chars)

    def jac(x: str, y: str, k: int = 5) -> float:
        a = {x[i : i + k] for i in range(len(x) - k + 1)}
        b = {y[i : i + k] for i in range(len(y) - k + 1)}
        return len(a & b) / len(a | b)

    sig = minhash_signatures([base, other, "短"], 5, 128, 1)
    est = float((sig[0] == sig[1]).mean())
    assert abs(est - jac(base, other)) < 0.1
    assert sig.shape == (3, 128)


def test_lsh_scales_without_all_pairs() -> None:
    rng = random.Random(1)
    alphabet = (
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
        "也能下过子说产种面而方后多定行学法所民得经"
    )
    texts = ["".join(rng.choice(alphabet) for _ in range(120)) for _ in range(3000)]
    texts += [t + "。" for t in texts[:50]]  # 50 exact copies
    res = run(texts)
    assert len(res.duplicate_of) == 50
    assert res.candidate_pairs < 3000  # far below 3000*2999/2 pairs
    assert np.unique(res.group).size == 3000
