from recipes.evaluation.items import Item
from recipes.evaluation.mcq import baselines, candidates, option_f1, parse_letters, question_text

OPTS = {k: f"option {k}" for k in "ABCD"}


def item(answer, kind):
    return Item("x", {"question": "Q?", "options": OPTS, "answer": answer, "kind": kind})


def test_parse_letters():
    assert parse_letters("A、C", OPTS) == "AC"
    assert parse_letters("答案：BD\n解析……", OPTS) == "BD"
    assert parse_letters("C\nD\nA", OPTS) == "C"  # the first answer line only
    assert parse_letters("The answer is B.", OPTS) == "B"
    assert parse_letters("ABOUT THE LAW", OPTS) == ""
    assert parse_letters("E", OPTS) == ""


def test_candidates_by_kind():
    assert candidates(item("A", "single")) == list("ABCD")
    multi = candidates(item("AB", "multi"))
    assert len(multi) == 11 and "A" not in multi and "ABCD" in multi
    assert len(candidates(item("A", "indefinite"))) == 15


def test_prompt_says_the_kind():
    assert "单项选择题" in question_text(item("A", "single"))
    assert "多项选择题" in question_text(item("AB", "multi"))
    assert question_text(item("A", "single")).endswith("D. option D\n答案：")


def test_option_f1_and_baselines():
    assert option_f1("AB", "AB") == 1.0
    assert option_f1("A", "AB") == 2 / 3
    assert option_f1("", "AB") == 0.0
    b = baselines([item("A", "single"), item("A", "single"), item("AB", "multi")])
    assert abs(b["random"]["acc"] - (0.25 + 0.25 + 1 / 11) / 3) < 1e-9
    assert b["majority"]["answer"] == "A" and abs(b["majority"]["acc"] - 2 / 3) < 1e-9
