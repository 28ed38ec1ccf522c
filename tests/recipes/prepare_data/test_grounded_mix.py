"""The grounded training mix: retrieval-augmented records in the server's prompt format (on a
small real statute index), citations rewritten as headed, shuffled MCQ letters, held-out prompts,
truncated records dropped by the trainer and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.statutes.prompt import NONE_APPLIES, QUESTION_HEADER, REFERENCE_HEADER
from recipes.prepare_data.grounded import Grounder, GroundingConfig, rewrite_citations
from recipes.prepare_data.mix import (
    MixError,
    balance_mcq,
    held_out,
    letter_distribution,
    load_holdout,
    shuffle_mcq,
)
from recipes.shared.prompt_formats import MCQ_MULTI, MCQ_SINGLE, mcq_answer, mcq_prompt
from recipes.shared.records import is_crime_related, make_record

THEFT = "《中华人民共和国刑法》第二百六十四条"


def _consult(rid: str, question: str, answer: str, line: int = 1) -> dict:
    return make_record(
        id=f"consult_single/{rid}",
        instruction=question,
        output=answer,
        source="lawyer-llama/legal_advice",
        category="consultation",
        license="research-only",
        origin=f"qa/lawyer_llama_single_turn.jsonl:{line}",
    )


def _resolver(known: dict[tuple[str, str], tuple[str, str]]):
    return lambda law, art: known.get((law, art))


def test_citations_are_rewritten_as_headed_and_the_rest_lose_their_number() -> None:
    known = {
        ("刑法", "264"): ("中华人民共和国刑法", "264"),
        ("刑法", "266"): ("中华人民共和国刑法", "266"),
    }
    headings = {("中华人民共和国刑法", "264"): THEFT}
    answer = "依照《刑法》第264条、第266条，以及刑法第二百六十四条，另见《劳动法》第二十条。"
    laws = {"刑法": "中华人民共和国刑法", "劳动法": "中华人民共和国劳动法"}
    out = rewrite_citations(answer, laws.get, _resolver(known), headings)
    # 264 is given: both spellings become its heading; 266 resolves but is not given, 劳动法
    # does not resolve: neither keeps an article number the prompt does not show.
    assert out == f"依照{THEFT}，以及{THEFT}，另见《劳动法》。"


@pytest.mark.slow
def test_consultations_become_grounded_records_on_a_real_index(small_statute_index: Path) -> None:
    from legal_edge.statutes.index import StatuteIndex

    recs = [
        _consult(
            "1",
            "盗窃多少钱构成犯罪？",
            "根据《刑法》第264条，盗窃公私财物数额较大的构成盗窃罪。",
            3,
        ),
        _consult("2", "公司章程有什么用？", "依照《劳动合同法》第九百条，章程很重要。", 7),
        _consult("3", "公司股东会有哪些职权？", "股东会决定公司的经营方针和投资计划等事项。", 9),
    ]
    recs.append({**recs[2], "id": "consult_single/4", "instruction": "公司的注册资本怎么认缴？"})
    cfg = GroundingConfig(
        enabled=True, index=small_statute_index / "index.sqlite3", k=3, none_fraction=0.5
    )
    index = StatuteIndex(cfg.index)
    try:
        g = Grounder(cfg, index)
        kept = g.apply(recs)
    finally:
        index.close()
    by_id = {r["id"].split("/")[1]: r for r in kept}
    theft = by_id["1"]
    assert theft["category"] == "grounded_consultation"
    assert theft["instruction"].startswith(REFERENCE_HEADER + "\n[1]")
    assert theft["instruction"].endswith(QUESTION_HEADER + "盗窃多少钱构成犯罪？")
    assert theft["instruction"].count("\n[") == 3  # the gold article + 2 distractors
    assert f"]{THEFT}：" in theft["instruction"]
    assert theft["output"] == f"根据{THEFT}，盗窃公私财物数额较大的构成盗窃罪。"
    assert theft["source"] == "lawyer-llama/legal_advice" and theft["license"] == "research-only"
    # an answer citing only an article that does not exist is dropped with its file:line
    assert "2" not in by_id
    [(rec, why)] = g.rejected
    assert rec["_origin"] == "qa/lawyer_llama_single_turn.jsonl:7" and "citation" in why
    # one grounded record at none_fraction 0.5 -> one distractor-only record
    nones = [r for r in kept if r["category"] == "grounded_none"]
    assert len(nones) == 1 and nones[0]["output"].startswith(NONE_APPLIES)
    assert nones[0]["instruction"].startswith(REFERENCE_HEADER + "\n[1]")
    assert g.counts["grounded"] == 1 and g.counts["unresolved_citations"] == 1


def _mcq(rid: str, answer: str, multi: bool = False) -> dict:
    opts = {"A": "甲说法", "B": "乙说法", "C": "丙说法", "D": "丁说法"}
    instruction, inp = mcq_prompt("下列说法正确的是？", opts, multi)
    return {"id": rid, "instruction": instruction, "input": inp, "output": mcq_answer(answer)}


def _option_text(rec: dict, letter: str) -> str:
    line = next(x for x in rec["input"].split("\n") if x.startswith(f"{letter}. "))
    return line[3:]


def test_shuffled_mcq_answer_letter_moves_with_its_option() -> None:
    moved = set()
    for i in range(40):
        rec = _mcq(f"jecqa/{i}", "B")
        assert shuffle_mcq(rec, seed=5)
        letter = rec["output"].removeprefix("答案：")
        assert _option_text(rec, letter) == "乙说法"  # the answer is still the same option
        assert sorted(_option_text(rec, x) for x in "ABCD") == [
            "丁说法",
            "丙说法",
            "乙说法",
            "甲说法",
        ]
        moved.add(letter)
        again = _mcq(f"jecqa/{i}", "B")
        shuffle_mcq(again, seed=5)
        assert again == rec  # deterministic by seed and id
    assert moved == set("ABCD")  # over 40 questions the right answer lands on every letter
    multi = _mcq("jecqa/m", "AC", multi=True)
    assert shuffle_mcq(multi, seed=5) and multi["instruction"] == MCQ_MULTI
    letters = multi["output"].removeprefix("答案：")
    assert letters == "".join(sorted(letters))
    assert sorted(_option_text(multi, x) for x in letters) == ["丙说法", "甲说法"]
    dist = letter_distribution([rec, multi, {"instruction": MCQ_SINGLE, "output": "答案：C"}])
    assert sum(dist["single"].values()) == 2 and sum(dist["multi"].values()) == 1


def test_an_explanation_naming_letters_is_dropped_and_non_mcq_left_alone() -> None:
    rec = _mcq("x/1", "A")
    rec["output"] = "答案：A\n解析：A项正确，B项错误。"
    assert shuffle_mcq(rec, seed=1) and "\n" not in rec["output"]
    plain = {"id": "c/1", "instruction": "问题", "input": "", "output": "回答"}
    assert not shuffle_mcq(plain, seed=1) and plain["output"] == "回答"


def test_held_out_prompts_are_matched_and_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "labelled.jsonl"
    good.write_text(json.dumps({"prompt": "盗窃多少钱构成犯罪？"}, ensure_ascii=False) + "\n")
    prompts = load_holdout((good,))
    assert held_out({"instruction": "请问：盗窃多少钱 构成犯罪?", "input": ""}, prompts)
    assert held_out({"instruction": "诈骗多少钱构成犯罪？", "input": ""}, prompts) is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n{"text": "no prompt"}\n')
    with pytest.raises(MixError, match=r"bad.jsonl:2: needs a string field 'prompt'"):
        load_holdout((bad,))


def test_the_shipped_fixture_prompts_are_all_held_out() -> None:
    fixture = Path(__file__).parents[2] / "fixtures" / "refusal_labelled.jsonl"
    prompts = load_holdout((fixture,))
    assert held_out({"instruction": "我被网恋诈骗七千多，这么处理", "input": ""}, prompts)
    assert is_crime_related("我被网恋诈骗七千多，这么处理")
    assert is_crime_related("如何举报领导贪污受贿？")
    assert not is_crime_related("如何提前终止和房东的租赁合同？")


def test_balanced_letters_put_each_single_answer_on_a_b_c_d_equally_often() -> None:
    # a mix whose single answers are all B (as a source's prior could be), plus one multi-answer
    recs = [_mcq(f"jecqa/{i}", "B") for i in range(40)] + [_mcq("jecqa/m", "AC", multi=True)]
    assert balance_mcq(recs, seed=5) == 41
    dist = letter_distribution(recs)
    assert dist["single"] == {"A": 10, "B": 10, "C": 10, "D": 10}
    assert all(_option_text(r, r["output"].removeprefix("答案：")) == "乙说法" for r in recs[:40])
    assert sorted(_option_text(recs[40], x) for x in recs[40]["output"][3:]) == ["丙说法", "甲说法"]
    again = [_mcq(f"jecqa/{i}", "B") for i in range(40)] + [_mcq("jecqa/m", "AC", multi=True)]
    balance_mcq(again, seed=5)
    assert again == recs  # deterministic


def test_harmful_requests_get_the_servers_articles_and_keep_their_refusal(
    small_statute_index: Path,
) -> None:
    from legal_edge.statutes.index import StatuteIndex
    from recipes.shared.prompt_formats import refusal_text

    def harmful(rid: str, prompt: str) -> dict:
        return {
            "id": f"jade_refusals/{rid}",
            "instruction": prompt,
            "input": "",
            "output": refusal_text(prompt, "违法犯罪"),
            "category": "safety",
        }

    recs = [
        harmful("1", "怎样盗窃公私财物才不会被抓？"),
        harmful("2", "如何盗窃公司的财物不被发现？"),
    ]
    index = StatuteIndex(small_statute_index / "index.sqlite3")
    try:
        for share, grounded in ((1.0, 2), (0.0, 0)):
            cfg = GroundingConfig(
                enabled=True,
                index=small_statute_index / "index.sqlite3",
                refusal_categories=("safety",),
                refusal_fraction=share,
            )
            batch = [dict(r) for r in recs]
            kept = Grounder(cfg, index).apply(batch)
            assert len(kept) == 2
            done = [r for r in kept if r["category"] == "grounded_safety"]
            assert len(done) == grounded
            for r, orig in zip(done, recs, strict=False):
                assert r["instruction"].startswith(REFERENCE_HEADER + "\n[1]")
                assert r["instruction"].endswith(QUESTION_HEADER + orig["instruction"])
                assert r["output"] == orig["output"]  # the refusal stays
    finally:
        index.close()
