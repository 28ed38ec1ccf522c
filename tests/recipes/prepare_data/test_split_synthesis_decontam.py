"""Split leak-freedom and determinism, statute synthesis, decontamination."""

from __future__ import annotations

from pathlib import Path

from recipes.prepare_data.config import DecontamConfig, SplitConfig, SynthesisConfig
from recipes.prepare_data.decontam import Decontaminator
from recipes.prepare_data.split import split_records
from recipes.prepare_data.synthesis import synthesize
from recipes.shared.prompt_formats import MCQ_SINGLE, mcq_prompt
from tests.recipes.prepare_data.helpers import read


def fake(n_groups: int, size: int, category: str) -> tuple[list[dict], list[str]]:
    recs, groups = [], []
    for g in range(n_groups):
        for k in range(size):
            recs.append({"id": f"{category}{g}-{k}", "category": category})
            groups.append(f"{category}{g}")
    return recs, groups


def test_groups_never_straddle_and_split_is_stratified_and_deterministic() -> None:
    r1, g1 = fake(200, 3, "statute")
    r2, g2 = fake(100, 1, "exam_mcq")
    r3, g3 = fake(10, 1, "safety")
    recs, groups = r1 + r2 + r3, g1 + g2 + g3
    cfg = SplitConfig(val_fraction=0.1, max_val_per_category=1000, seed=3)
    train, val = split_records(recs, groups, cfg)
    assert sorted(train + val) == list(range(len(recs)))
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in val})
    per_cat = {
        c: sum(recs[i]["category"] == c for i in val) for c in ("statute", "exam_mcq", "safety")
    }
    assert per_cat == {"statute": 60, "exam_mcq": 10, "safety": 1}
    assert split_records(recs, groups, cfg) == (train, val)
    other = split_records(
        recs, groups, SplitConfig(val_fraction=0.1, max_val_per_category=1000, seed=4)
    )
    assert other[1] != val


def test_val_cap_per_category() -> None:
    recs, groups = fake(1000, 1, "statute")
    _, val = split_records(recs, groups, SplitConfig(val_fraction=0.5, max_val_per_category=30))
    assert len(val) == 30


def test_synthesis_from_real_statutes(legal_data: Path) -> None:
    recs, _ = read(legal_data, "statutes/刑法/刑法.md", "statutes")
    made, stats = synthesize(recs, SynthesisConfig(per_article=3))
    assert made and all(r["source"] == "synthetic/statutes" for r in made)
    assert all(r["category"] == "synthetic_statute" and r["_parent"] for r in made)
    which = [r for r in made if r["id"].endswith("~which_article")]
    assert which and "中华人民共和国刑法》中哪一条规定了" in which[0]["instruction"]
    # the answer names the right article: the parent's
    parent = {r["id"]: r for r in recs}[which[0]["_parent"]]
    assert parent["_statute"]["article"] in which[0]["output"]
    chapter = [r for r in made if r["id"].endswith("~chapter")]
    assert chapter and "第一编" in chapter[0]["output"]
    # deterministic
    again, _ = synthesize(recs, SynthesisConfig(per_article=3))
    assert [r["id"] for r in again] == [r["id"] for r in made]


def test_ambiguous_opening_clause_is_not_asked() -> None:
    meta = {"law": "某法", "chapter": "", "version": ""}
    recs = [
        {
            "id": f"s/{i}",
            "license": "x",
            "_origin": "f:1",
            "_statute": dict(
                meta, article=f"第{n}条", text="有下列情形之一的，依法处理：（一）甲；（二）乙。"
            ),
        }
        for i, n in enumerate("一二")
    ]
    made, stats = synthesize(recs, SynthesisConfig(templates=("which_article",)))
    assert not made and stats["skipped:which_article"] == 2


def test_decontamination(tmp_path: Path) -> None:
    q = "甲公司与乙公司签订买卖合同后，乙公司未按约定交付货物，甲公司可以主张哪些权利？"
    opts = {"A": "解除合同", "B": "请求赔偿损失", "C": "请求继续履行", "D": "撤销合同"}
    (tmp_path / "eval.csv").write_text(
        ",Question,A,B,C,D,Answer\n0," + q + "," + ",".join(opts.values()) + ",ABC\n",
        encoding="utf-8",
    )
    d = Decontaminator(DecontamConfig(eval_files=("eval.csv",)), tmp_path, [MCQ_SINGLE])
    instruction, inp = mcq_prompt(q, opts, multi=False)
    leak = {"instruction": instruction, "input": inp, "output": "答案：ABC"}
    assert d.check(leak) is not None
    clean = {"instruction": "劳动者试用期被辞退有补偿吗？", "input": "", "output": "视情况而定。"}
    assert d.check(clean) is None
    # a prompt that only shares a law's title is not a leak, even a long title
    named = {"instruction": f"《{q}》第一条的内容是什么？", "input": "", "output": "x"}
    assert d.check(named) is None
    title = {
        "instruction": "《甲公司与乙公司签订买卖合同后》第一条的内容是什么？",
        "input": "",
        "output": "x",
    }
    assert d.check(title) is None
