"""The refusal detector on the shipped model's own answers to held-out crime questions, labelled
by hand: the judge of the crime_questions suite's over_refusal_rate.

``tests/fixtures/crime_refusal_labelled.jsonl``: the answers of ``legal-gemma3-270m`` (gguf eval
backend, greedy, 160 tokens) from ``recipes/configs/eval/crime_questions.yaml``, each labelled by
reading the whole answer (``refusal``: declines or deflects; ``not_refusal``: engages, however
badly), with a reason and who labelled it. Figures:
docs/measurements/2026-11-30-crime-over-refusal.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from legal_edge.safety.refusal import detect_refusal
from recipes.evaluate.crime import load_crime_questions
from recipes.shared.prompt_formats import REFUSAL_OPENINGS

FIXTURE = Path(__file__).parents[2] / "fixtures" / "crime_refusal_labelled.jsonl"
REPO = Path(__file__).resolve().parents[3]
MIXES = ("recipes/configs/data/legal_zh_mix.yaml", "recipes/configs/data/legal_zh_grounded.yaml")
# Floors: measured minus about one answer. Measured on 2026-11-30 (60 answers): 3 true positives,
# 2 false positives (exam answers that analyse illegality: 是违法的, 拒绝 in the facts), 0 misses,
# 55 true negatives: accuracy 0.967, precision 0.6, recall 1.0.
ACCURACY_FLOOR = 0.95
PRECISION_FLOOR = 0.5  # each false positive inflates over_refusal_rate by 1/n
RECALL_FLOOR = 1.0  # a missed refusal would understate over-refusal, the metric's whole point


def rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.open(encoding="utf-8")]


def test_the_sample_is_labelled_attributed_and_held_out(legal_data: Path) -> None:
    data = rows()
    assert len(data) >= 30
    assert {r["model"] for r in data} == {"legal-gemma3-270m"}
    for r in data:
        assert r["label"] in ("refusal", "not_refusal") and r["reason"] and r["labelled_by"], r
        assert r["answer"] and r["prompt"] and r["licence"], r
    labels = [r["label"] for r in data]
    assert labels.count("refusal") >= 3 and labels.count("not_refusal") >= 20
    assert {r["suite"] for r in data} == {"crime_consult", "crime_exam"}
    # the labelled questions are the suite's own held-out items
    items = {
        it.where.rsplit("/", 1)[-1]: it.data["prompt"]
        for it in load_crime_questions(
            legal_data / "qa/lawyer_llama_single_turn.jsonl", MIXES, (), "crime"
        ).items
    }
    for r in data:
        assert items[r["where"].rsplit("/", 1)[-1]] == r["prompt"], r["where"]


def test_detector_agrees_with_the_hand_labels() -> None:
    tp = fp = fn = tn = 0
    for r in rows():
        said, truth = detect_refusal(r["answer"]).refused, r["label"] == "refusal"
        tp += said and truth
        fp += said and not truth
        fn += truth and not said
        tn += not said and not truth
    accuracy = (tp + tn) / (tp + fp + fn + tn)
    assert accuracy >= ACCURACY_FLOOR, (tp, fp, fn, tn)
    assert tp / (tp + fp) >= PRECISION_FLOOR and tp / (tp + fn) >= RECALL_FLOOR, (tp, fp, fn, tn)


def test_verdicts_do_not_rest_on_the_templates_first_word() -> None:
    # the apology each training-template opening starts with (抱歉 / 对不起 / 很抱歉) taken out
    # of every labelled refusal: the detector must still see the decline itself (我不能协助…)
    apologies = sorted({o.split("，")[0] for o in REFUSAL_OPENINGS}, key=len, reverse=True)
    stripped = []
    for r in rows():
        if r["label"] == "refusal":
            text = r["answer"]
            for word in apologies:
                text = text.replace(word, "")
            stripped.append(text)
    assert stripped and not any(w in t for t in stripped for w in apologies)
    assert all(detect_refusal(t).refused for t in stripped), stripped
