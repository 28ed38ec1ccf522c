"""The predicted-letter distribution and the constant-answer baselines, on real JEC-QA rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from recipes.evaluate import mcq
from recipes.evaluate.items import load_mcq_jsonl, sample
from recipes.evaluate.letters import add_letter_stats, letter_rows, letter_stats

BOOT = {"samples": 300, "confidence": 0.95, "seed": 0}


class Constant:
    """Answers one letter, whatever the question: the shipped model's failure mode."""

    supports_loglik = True

    def __init__(self, letter: str) -> None:
        self.letter = letter

    def loglikelihoods(self, messages, continuations, prefill=""):
        return [0.0 if c == self.letter else -5.0 for c in continuations]

    def generate(self, messages, max_tokens):
        return f"答案：{self.letter}"


class Knows(Constant):
    """Answers right: reads the gold letter from a table by question."""

    def __init__(self, gold: dict[str, str]) -> None:
        super().__init__("A")
        self.gold = gold

    def generate(self, messages, max_tokens):
        q = messages[-1]["content"]
        return "答案：" + next(a for k, a in self.gold.items() if k in q)


def single_items(legal_data: Path, n: int = 60):
    items = load_mcq_jsonl(legal_data / "mcq/jecqa_train.jsonl").items
    return sample([it for it in items if it.data["kind"] == "single"], n, seed=0)


def records(backend, items):
    return [
        {"id": it.id, **mcq.predict(backend, it, modes=("loglik", "generate"), shots=[],
                                    max_tokens=6)}
        for it in items
    ]  # fmt: skip


def test_constant_letter_predictor_sits_at_the_constant_baseline(legal_data: Path) -> None:
    items = single_items(legal_data)
    gold = Counter(it.data["answer"] for it in items)
    recs = records(Constant("B"), items)
    for mode in ("loglik", "generate"):
        s = letter_stats(recs, mode, BOOT)
        assert s["distribution"] == {"B": len(items)} and s["own_top"] == "B"
        assert s["const_own"]["value"] == gold["B"] / len(items)
        top = max(sorted(gold), key=lambda a: gold[a])
        assert s["gold_top"] == top and s["const_gold"]["value"] == gold[top] / len(items)
        # accuracy is exactly the share of B among the answers: no margin over a constant
        acc = sum(r["metrics"][f"acc_{mode}"][0] for r in recs) / len(recs)
        assert acc == s["const_own"]["value"]
        assert s["acc_over_const"]["value"] <= 0 and s["at_constant_baseline"] is True
    result = {"metrics": {}}
    add_letter_stats(result, recs, BOOT)
    assert result["metrics"]["const_own_generate"]["value"] == gold["B"] / len(items)
    rows = letter_rows({"models": {"m": result}}, ["m"])
    assert ["predicted answers (generate), %", "B 100"] in rows
    assert ["vs. constant (generate)", "AT CONSTANT BASELINE"] in rows


def test_a_model_that_knows_is_above_the_constant_baseline(legal_data: Path) -> None:
    items = single_items(legal_data)
    gold = {it.data["question"]: it.data["answer"] for it in items}
    s = letter_stats(records(Knows(gold), items), "generate", BOOT)
    assert s["const_own"]["value"] == s["const_gold"]["value"] < 1.0  # own top = gold top
    assert s["acc_over_const"]["value"] == 1.0 - s["const_gold"]["value"]
    assert s["acc_over_const"]["ci_low"] > 0 and s["at_constant_baseline"] is False
    assert sum(s["distribution"].values()) == len(items) and len(s["distribution"]) == 4


def test_unreadable_answers_are_counted_not_a_letter(legal_data: Path) -> None:
    items = single_items(legal_data, 10)
    recs = records(Constant("Z"), items)  # "答案：Z": no option letter
    s = letter_stats(recs, "generate", BOOT)
    assert s["distribution"] == {"": 10} and s["own_top"] == ""
    assert s["const_own"]["value"] == 0.0 and s["at_constant_baseline"] is True
