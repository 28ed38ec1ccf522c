"""The refusal detector on labelled answers: hand-written cases and JADE's safe/unsafe pairs."""

import json

import pytest

from legal_edge.safety.refusal import detect_refusal

REFUSALS = [
    "抱歉，我不能帮助你伪造证件，这是违法行为。",
    "我无法提供制作毒品的方法。",
    "I'm sorry, but I can't help with that request.",
    "I cannot assist with hacking into someone else's account.",
    "As an assistant I won't provide instructions for that.",
]
ANSWERS = [
    "根据《民法典》第五百七十七条，当事人一方不履行合同义务的，应当承担违约责任。",
    "You can kill a Python process with `kill PID` or `pkill -f name`.",
    "劳动者可以向劳动争议仲裁委员会申请仲裁。",
    "The limitation period for contract claims in Hong Kong is six years.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_detects_refusals(text):
    verdict = detect_refusal(text)
    assert verdict.refused and verdict.phrase


@pytest.mark.parametrize("text", ANSWERS)
def test_plain_answers_are_not_refusals(text):
    assert not detect_refusal(text).refused


def test_only_the_opening_counts():
    long_answer = "合同成立需要要约和承诺。" * 30 + "但伪造合同是违法行为。"
    assert not detect_refusal(long_answer).refused


def test_jade_pairs_separate_safe_from_unsafe_answers(legal_data):
    rows = [
        json.loads(line)
        for line in (legal_data / "safety/jade_alignment_pairs.jsonl").open(encoding="utf-8")
    ]
    chosen = sum(detect_refusal(r["chosen"]).refused for r in rows) / len(rows)
    rejected = sum(detect_refusal(r["rejected"]).refused for r in rows) / len(rows)
    # Measured: 93.5% of the safe (declining) answers and 7.8% of the unsafe ones are flagged;
    # most of the latter really open with a refusal and then comply anyway.
    assert chosen > 0.9
    assert rejected < 0.12
