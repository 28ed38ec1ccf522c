from recipes.evaluate.items import Item
from recipes.evaluate.mcq import baselines, candidates, option_f1, parse_letters, question_text

OPTS = {k: f"option {k}" for k in "ABCD"}


def item(answer, kind):
    return Item("x", {"question": "Q?", "options": OPTS, "answer": answer, "kind": kind})


def test_parse_letters():
    assert parse_letters("A、C", OPTS) == "AC"
    assert parse_letters("答案：BD\n解析……", OPTS) == "BD"
    assert parse_letters("A项错误。答案：C", OPTS) == "C"  # the letters after 答案： win
    assert parse_letters("C\nD\nA", OPTS) == "C"  # the first answer line only
    assert parse_letters("The answer is B.", OPTS) == "B"
    assert parse_letters("ABOUT THE LAW", OPTS) == ""
    assert parse_letters("E", OPTS) == ""


def test_candidates_by_kind():
    assert candidates(item("A", "single")) == list("ABCD")
    multi = candidates(item("AB", "multi"))
    assert len(multi) == 11 and "A" not in multi and "ABCD" in multi
    assert len(candidates(item("A", "indefinite"))) == 15


def test_prompt_is_the_training_format():
    from legal_edge.prompts import record_to_messages
    from recipes.prepare_data.formats import from_mcq

    row = {"question": "Q?", "options": OPTS, "answer": "A", "multi": False}
    trained = record_to_messages(from_mcq(row))
    assert question_text(item("A", "single")) == trained[0]["content"]
    assert trained[1]["content"].startswith("答案：A")
    assert "不定项选择题" in question_text(item("AB", "multi"))
    assert "法律考试" not in question_text(item("A", "single"), general=True)


def test_loglik_prefills_the_answer_prefix():
    from recipes.evaluate.mcq import predict

    class Recorder:
        supports_loglik = True

        def loglikelihoods(self, messages, continuations, prefill=""):
            self.prefill = prefill
            return [0.0 if c == "B" else -1.0 for c in continuations]

        def generate(self, messages, max_tokens):
            return "答案：B\n解析：A项错误"

    rec = predict(
        Recorder(), item("B", "single"), modes=("loglik", "generate"), shots=[], max_tokens=6
    )
    assert rec["loglik"]["pred"] == "B" and rec["generate"]["pred"] == "B"
    assert rec["metrics"]["acc_loglik"] == [1.0, 1.0] and rec["metrics"]["acc_generate"] == [
        1.0,
        1.0,
    ]


def test_option_f1_and_baselines():
    assert option_f1("AB", "AB") == 1.0
    assert option_f1("A", "AB") == 2 / 3
    assert option_f1("", "AB") == 0.0
    b = baselines([item("A", "single"), item("A", "single"), item("AB", "multi")])
    assert abs(b["random"]["acc"] - (0.25 + 0.25 + 1 / 11) / 3) < 1e-9
    assert b["majority"]["answer"] == "A" and abs(b["majority"]["acc"] - 2 / 3) < 1e-9
    # answering every option: over the multi-answer items only (F1 of ABCD against AB = 2/3)
    assert b["all_options"]["n"] == 1 and b["all_options"]["acc"] == 0.0
    assert abs(b["all_options"]["option_f1"] - 2 / 3) < 1e-9
    assert "all_options" not in baselines([item("A", "single")])


def test_calibrated_scoring_removes_the_letter_prior():
    """A model that puts D first whatever the question (as the base and the shipped model do)
    picks D by loglik; calibrated scoring subtracts the content-free question's scores and
    picks the letter the question itself raised."""
    from recipes.evaluate.mcq import CONTENT_FREE, predict

    class PriorD:
        supports_loglik = True
        asked: list[str] = []

        def loglikelihoods(self, messages, continuations, prefill=""):
            text = messages[-1]["content"]
            self.asked.append(text)
            prior = {"A": -3.0, "B": -3.0, "C": -3.0, "D": -0.5}
            lift = 0.0 if CONTENT_FREE in text else 1.0  # the real question raises B
            return [prior[c] + (lift if c == "B" else 0.0) for c in continuations]

        def generate(self, messages, max_tokens):
            return "答案：D"

    model = PriorD()
    rec = predict(
        model, item("B", "single"), modes=("loglik", "calibrated"), shots=[], max_tokens=6
    )
    assert rec["loglik"]["pred"] == "D" and rec["calibrated"]["pred"] == "B"
    assert rec["metrics"]["acc_calibrated"] == [1.0, 1.0]
    assert any(CONTENT_FREE in t and "以下是法律考试的单项选择题" in t for t in model.asked)
