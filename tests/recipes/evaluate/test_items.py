"""Loading items: real rows load, unusable rows are counted with file:line, never scored."""

import json

import pytest

from recipes.evaluate.general import load_general
from recipes.evaluate.items import (
    DataError,
    load_cases,
    load_mcq_csv,
    load_mcq_jsonl,
    load_safety,
)


def write_jsonl(path, rows):
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_bad_mcq_rows_are_reported_with_counts(tmp_path):
    good = {"id": "g", "question": "Q", "options": {"A": "a", "B": "b"}, "answer": "B"}
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            good,
            {"id": "1", "question": "Q", "options": {}, "answer": "A"},
            {"id": "2", "question": "Q", "answer": "A"},
            {"id": "3", "question": "Q", "options": {"A": "a", "B": "b"}, "answer": "C"},
            {"id": "4", "question": "Q", "options": {"A": "a", "B": "b"}, "answer": ""},
            {"id": "5", "question": "Q", "options": {"A": "a", "C": "c"}, "answer": "A"},
        ],
    )
    loaded = load_mcq_jsonl(path)
    assert [it.id for it in loaded.items] == ["g"]
    assert loaded.skip_counts() == {
        "missing options": 3,
        "answer outside options": 1,
        "missing answer": 1,
    }
    assert loaded.skipped[0].where == f"{path}:2"


def test_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{not json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        load_mcq_jsonl(path)


def test_real_mcq_files_load_with_kinds(legal_data):
    jec = load_mcq_jsonl(legal_data / "mcq/jecqa_train.jsonl")
    assert len(jec.items) == 6966 and not jec.skipped
    kinds = {it.data["kind"] for it in jec.items}
    assert kinds == {"single", "multi"}
    lex = load_mcq_jsonl(legal_data / "mcq/lexeval_choice.jsonl")
    by_task = {}
    for it in lex.items:
        by_task.setdefault(it.groups["subject"], set()).add(it.data["kind"])
    assert by_task["法律规则"] == {"single"} and by_task["法律概念"] == {"indefinite"}


def test_cmmlu_and_ceval_csv(tmp_path, legal_data):
    loaded, pool = load_general(legal_data.parent / "general-eval/cmmlu", ("professional_law",))
    assert len(loaded.items) > 200 and len(pool) == 5
    assert loaded.items[0].groups["subject"] == "professional_law"
    ceval = tmp_path / "law_val.csv"
    ceval.write_text(
        "id,question,A,B,C,D,answer,explanation\n0,Q1,a,b,c,d,B,\n1,Q2,a,b,c,,A,\n"
        "2,Q3,a,b,c,d,E,\n",
        encoding="utf-8",
    )
    got = load_mcq_csv(ceval, "law")
    assert [it.data["answer"] for it in got.items] == ["B"]
    assert got.skip_counts() == {"missing options": 1, "answer outside options": 1}


def test_cases_and_safety_real_rows(legal_data):
    cases = load_cases(legal_data / "cases/lexeval_generation.jsonl")
    assert len(cases.items) == 750 and cases.items[0].data["reference"]
    hk = load_cases(legal_data / "cases/safelawbench_hk_en.jsonl")
    assert hk.items[0].data["prompt"].endswith("?")
    xs = load_safety(legal_data / "safety/xstest_en.jsonl", "label")
    expects = [it.data["expect"] for it in xs.items]
    assert expects.count("comply") == 250 and expects.count("refuse") == 200
    jade = load_safety(legal_data / "safety/jade_harmful_questions.jsonl", "label")
    assert {it.data["expect"] for it in jade.items} == {"refuse"}
    risky = load_safety(legal_data / "safety/legal_risk_prompts.jsonl", "label")
    assert not risky.items and risky.skip_counts()  # no label: reported, not guessed
