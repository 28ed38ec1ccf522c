"""The case sets that are not ``{question, reference}`` rows, read from the real files."""

from __future__ import annotations

from pathlib import Path

from legal_edge.statutes.citations import find_citations
from recipes.evaluate.caseforms import CASE_QUESTION, first_exchange, split_case
from recipes.evaluate.items import load_cases


def test_typical_cases_ask_the_facts_and_keep_the_analysis(legal_data: Path) -> None:
    loaded = load_cases(legal_data / "cases/typical_cases.jsonl")
    assert len(loaded.items) + len(loaded.skipped) == 52
    assert len(loaded.items) >= 45  # the few without a facts heading are counted, not scored
    first = next(it for it in loaded.items if "加班费的仲裁时效" in it.id)
    prompt, reference = first.data["prompt"], first.data["reference"]
    assert prompt.startswith("基本案情：张某于2016年7月入职") and prompt.endswith(CASE_QUESTION)
    assert "原告诉讼请求：" in prompt and "案例分析" not in prompt
    assert reference.startswith("裁判结果：") and "劳动争议调解仲裁法" in reference
    assert find_citations(reference) and not find_citations(prompt)
    assert split_case("# 标题\n\n没有小标题的正文") == ("", "")


def test_consultations_take_the_first_exchange(legal_data: Path) -> None:
    loaded = load_cases(legal_data / "qa/lawyer_llama_multi_turn.jsonl")
    assert len(loaded.items) == 476 and not loaded.skipped
    first = loaded.items[0]
    assert first.data["prompt"] == "如果夫妻一方因为赌博而离婚，可否让其净身出户"
    assert first.data["reference"].startswith("根据您提供的情况")
    assert first_exchange([{"role": "assistant", "content": "x"}]) == ("", "")
    assert first_exchange("not a list") == ("", "")
