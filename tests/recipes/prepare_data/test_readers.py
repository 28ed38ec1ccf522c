"""Readers: every kind of file a law office has, on real rows where the data has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.prompts import record_to_messages
from recipes.shared.prompt_formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE
from recipes.shared.statutes import parse_statute
from tests.recipes.prepare_data.helpers import read, real_rows, write_jsonl


def test_statute_markdown_splits_articles_with_law_chapter_number(legal_data: Path) -> None:
    path = legal_data / "statutes" / "刑法" / "刑法.md"
    parsed = parse_statute(path.read_text(encoding="utf-8"), path)
    assert parsed.law == "中华人民共和国刑法"
    by_no = {a.article: a for a in parsed.articles}
    assert by_no["第一条"].text.startswith("为了惩罚犯罪")
    assert "第一编 总则" in by_no["第一条"].chapter and "第一章" in by_no["第一条"].chapter
    assert "第十七条之一" in by_no  # inserted articles keep their own number
    # a paragraph after the article line stays in the article
    assert "凡在中华人民共和国船舶或者航空器内犯罪的" in by_no["第六条"].text
    assert len(parsed.articles) > 400


def test_statute_reader_records(legal_data: Path) -> None:
    recs, rej = read(legal_data, "statutes/宪法", "statutes", limit=30)
    assert len(recs) == 30 and not rej
    r = recs[0]
    assert r["category"] == "statute" and r["license"] == "test"
    assert r["instruction"].startswith("《") and "条" in r["instruction"]
    assert r["_origin"].rsplit(":", 1)[1].isdigit()  # file:line
    assert r["_statute"]["law"] and r["_statute"]["article"].startswith("第")


def test_plain_text_statute_without_front_matter(tmp_path: Path) -> None:
    f = tmp_path / "某某条例.txt"
    f.write_text(
        "第一条 为了规范管理，制定本条例。\n第二条 本条例自2020年1月1日起施行。\n", encoding="utf-8"
    )
    recs, rej = read(tmp_path, "某某条例.txt", "statutes")
    assert [r["_statute"]["article"] for r in recs] == ["第一条", "第二条"]
    assert recs[0]["_statute"]["law"] == "某某条例"


def test_statute_file_without_articles_is_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# 攻略\n\n一些说明文字。\n", encoding="utf-8")
    recs, rej = read(tmp_path, "guide.md", "statutes")
    assert not recs and rej[0].rule == "no_articles" and rej[0].origin.endswith("guide.md")


def test_alpaca_real_rows(legal_data: Path) -> None:
    recs, rej = read(legal_data, "qa/lawyer_llama_single_turn.jsonl", "alpaca", limit=10)
    assert len(recs) == 10 and not rej
    assert recs[0]["source"].startswith("lawyer-llama/")  # the row's own source is kept
    assert recs[0]["category"] == "consultation" and recs[0]["output"]


def test_multi_turn_real_rows_keep_every_turn(legal_data: Path) -> None:
    recs, _ = read(legal_data, "qa/lawyer_llama_multi_turn.jsonl", "messages", limit=10)
    raw = real_rows(legal_data, "qa/lawyer_llama_multi_turn.jsonl", 1)[0]
    assert len(recs[0]["messages"]) == len(raw["messages"])
    assert record_to_messages(recs[0])[-1]["role"] == "assistant"


def test_sharegpt_conversations_and_turn_merging(tmp_path: Path) -> None:
    rows = [
        {
            "conversations": [
                {"from": "human", "value": "问1"},
                {"from": "gpt", "value": "答1"},
                {"from": "human", "value": "问2"},
                {"from": "gpt", "value": "答2a"},
                {"from": "gpt", "value": "答2b"},
            ]
        },
        {"conversations": [{"from": "gpt", "value": "先回答"}, {"from": "human", "value": "再问"}]},
    ]
    write_jsonl(tmp_path / "c.jsonl", rows)
    recs, rej = read(tmp_path, "c.jsonl")
    assert [m["role"] for m in recs[0]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert recs[0]["messages"][-1]["content"] == "答2a\n\n答2b"
    assert rej[0].rule == "bad_messages" and rej[0].origin.endswith("c.jsonl:2")


def test_mcq_real_rows_show_options_and_start_with_answer(legal_data: Path) -> None:
    recs, rej = read(legal_data, "mcq/jecqa_train.jsonl", "mcq", limit=10)
    rows = real_rows(legal_data, "mcq/jecqa_train.jsonl", 10)
    assert not rej
    for rec, row in zip(recs, rows, strict=True):
        assert rec["instruction"] in (MCQ_SINGLE, MCQ_MULTI)
        for letter in "ABCD":
            assert f"\n{letter}. {row['options'][letter]}" in rec["input"]
        assert rec["output"].startswith(f"{ANSWER_PREFIX}{''.join(sorted(row['answer']))}")
        assert rec["category"] == "exam_mcq"


def test_mcq_with_explanation_and_bad_answer(tmp_path: Path) -> None:
    rows = [
        {
            "question": "问题一",
            "options": {"A": "甲", "B": "乙"},
            "answer": "B",
            "explanation": "因为乙。",
        },
        {"question": "问题二", "options": {"A": "甲", "B": "乙"}, "answer": "E"},
    ]
    write_jsonl(tmp_path / "m.jsonl", rows)
    recs, rej = read(tmp_path, "m.jsonl", "mcq")
    assert recs[0]["output"] == "答案：B\n解析：因为乙。"
    assert recs[0]["instruction"] == MCQ_SINGLE
    assert rej[0].rule == "bad_answer" and rej[0].origin.endswith("m.jsonl:2")


def test_cases_real_rows(legal_data: Path) -> None:
    recs, rej = read(legal_data, "cases/lexeval_generation.jsonl", "case", limit=5)
    assert len(recs) == 5 and not rej and recs[0]["output"]
    recs, rej = read(legal_data, "cases/typical_cases.jsonl", "typical_case", limit=5)
    assert len(recs) + len(rej) == 5 and recs
    assert "处理结果" in recs[0]["output"] or "分析" in recs[0]["output"]
    recs, _ = read(legal_data, "cases/safelawbench_hk_en.jsonl", "case", limit=3)
    assert recs[0]["instruction"].endswith("?")
    recs, rej = read(legal_data, "statutes/案例", "case_markdown", limit=5)
    assert recs and recs[0]["input"]


def test_safety_real_rows(legal_data: Path) -> None:
    recs, _ = read(legal_data, "safety/jade_alignment_pairs.jsonl", "safety_pairs", limit=3)
    raw = real_rows(legal_data, "safety/jade_alignment_pairs.jsonl", 1)[0]
    assert recs[0]["output"] == raw["chosen"].strip() and recs[0]["category"] == "safety"
    recs, _ = read(legal_data, "safety/jade_harmful_questions.jsonl", "safety_refusal", limit=20)
    assert all(r["output"].startswith(("抱歉", "对不起", "很抱歉")) for r in recs)
    assert len({r["output"] for r in recs}) > 1  # varied, not one canned sentence
    recs, rej = read(legal_data, "safety/legal_risk_prompts.jsonl", "auto", limit=3)
    assert not recs and {r.rule for r in rej} == {"no_answer"}


def test_every_shared_source_is_readable(legal_data: Path) -> None:
    """Each file in ../shared/legal-data yields records under some format (limit keeps it fast)."""
    for rel in sorted(p.relative_to(legal_data) for p in legal_data.glob("*/*.jsonl")):
        recs, rej = read(legal_data, str(rel), "auto", limit=300)
        if rel.name == "legal_risk_prompts.jsonl":
            continue  # prompt-only (no answers): used for decontamination
        assert recs, f"{rel}: {[r.reason for r in rej]}"


def test_json_array_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps(
            [{"instruction": "问", "input": "", "output": "答"}, {"instruction": "问2"}],
            ensure_ascii=False,
        )
    )
    recs, rej = read(tmp_path, "a.json")
    assert (
        len(recs) == 1 and rej[0].rule == "missing_field" and rej[0].origin.endswith("a.json:[1]")
    )


def test_docx_document(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    doc = docx.Document()
    doc.add_paragraph("房屋租赁合同")
    doc.add_paragraph("第一条 出租人将房屋出租给承租人使用。")
    doc.add_paragraph("第二条 租金为每月3000元。")
    doc.save(str(tmp_path / "租赁.docx"))
    recs, rej = read(tmp_path, "租赁.docx", category="contract")
    assert not rej
    assert recs[0]["instruction"] == "请起草一份《房屋租赁合同》。"
    assert "租金为每月3000元" in recs[0]["output"] and recs[0]["category"] == "contract"


def test_pdf_document(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    fig.text(0.1, 0.8, "Engagement Letter")
    fig.text(0.1, 0.6, "The firm will advise the client on the lease dispute.")
    fig.savefig(tmp_path / "letter.pdf")
    plt.close(fig)
    recs, rej = read(tmp_path, "letter.pdf", category="memo")
    assert not rej, rej
    assert "lease dispute" in recs[0]["output"]


def test_bad_input_never_stops_the_run(tmp_path: Path) -> None:
    good = json.dumps({"instruction": "问", "input": "", "output": "答"}, ensure_ascii=False)
    lines = [
        good.encode(),
        b'{"instruction": "broken", ',
        json.dumps(
            {"instruction": "国标编码", "input": "", "output": "答复"}, ensure_ascii=False
        ).encode("gbk"),
        b'{"instruction": "\xff\xfe\xfa bad"}',
        json.dumps({"instruction": "no output"}).encode(),
        json.dumps({"weird": 1}).encode(),
        b"[1, 2]",
    ]
    (tmp_path / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "notes.xyz").write_text("hello")
    recs, rej = read(tmp_path, ".")
    assert [r["instruction"] for r in recs] == ["问", "国标编码"]
    got = {(Path(r.origin).name, r.rule) for r in rej}
    assert ("bad.jsonl:2", "bad_json") in got
    assert ("bad.jsonl:4", "bad_encoding") in got
    assert ("bad.jsonl:5", "missing_field") in got
    assert ("bad.jsonl:6", "unknown_format") in got
    assert ("bad.jsonl:7", "bad_row") in got
    assert ("empty.jsonl", "empty_file") in got
    assert ("notes.xyz", "unknown_format") in got
    assert all(r.reason for r in rej)


def test_older_version_of_a_law_is_superseded(tmp_path: Path) -> None:
    from recipes.shared.statutes import superseded

    for date, text in (("2015-03-15", "旧的规定。"), ("2023-03-13", "新的规定。")):
        (tmp_path / f"立法法({date}).md").write_text(
            f"# 中华人民共和国立法法\n\n<!-- INFO END -->\n\n第一条 {text}\n", encoding="utf-8"
        )
    recs, _ = read(tmp_path, ".", "statutes")
    assert [r["_statute"]["version"] for r in recs] == ["2023-03-13", "2015-03-15"]  # newest first
    old = superseded(recs)
    assert list(old) == [1] and "2023-03-13" in old[1]


def test_mcq_answer_separators() -> None:
    from recipes.prepare_data.formats import convert_row
    from recipes.shared.records import RowError

    row = {"question": "问", "options": {"A": "甲", "B": "乙", "C": "丙"}, "answer": "C、A"}
    assert convert_row("mcq", row)[1]["output"] == "答案：AC"
    with pytest.raises(RowError, match="not among options"):
        convert_row("mcq", dict(row, answer="Answer: B"))


def test_xstest_style_labels(legal_data: Path) -> None:
    recs, rej = read(legal_data, "safety/xstest_en.jsonl", "auto")
    assert len(recs) == 200 and len(rej) == 250  # unsafe -> refusal; safe -> no answer to train on
    assert recs[0]["output"].startswith(("I can't", "Sorry")) and {r.rule for r in rej} == {
        "no_answer"
    }
