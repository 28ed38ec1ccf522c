"""Parity checks: they pass on a correct merge and catch a wrong one (tiny real models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, record_to_messages, render_chat
from recipes.export.merge import merge_into_gguf
from recipes.export.parity import ParitySettings, logits_parity, prompt_tokens, tokenizer_parity


@pytest.fixture(scope="module")
def texts(legal_data: Path) -> list[str]:
    rows = [
        json.loads(line)
        for _, line in zip(
            range(6),
            (legal_data / "qa" / "lawyer_llama_single_turn.jsonl").open(encoding="utf-8"),
            strict=False,
        )
    ]
    return [
        render_chat(
            GEMMA_CHAT_TEMPLATE,
            record_to_messages({**r, "output": r["output"][:200]}),
            add_generation_prompt=False,
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def trained(tiny_trained: Path) -> dict:
    m = json.loads((tiny_trained / "manifest.json").read_text())
    base = m["training"]["base"]
    return {"gguf": Path(base["gguf"]), "hf": Path(base["hf_dir"]), "peft": tiny_trained / "peft"}


def test_tokenizer_ids_agree_on_chinese_legal_text(trained: dict, texts: list[str]) -> None:
    plain = [t.replace("<start_of_turn>", "").replace("<end_of_turn>", "") for t in texts]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in plain[0])
    res = tokenizer_parity(trained["hf"], trained["gguf"], plain)
    assert res["ok"], res["examples"]
    assert res["tokens"] > 100


def test_logits_agree_for_a_correct_merge(trained: dict, texts: list[str], tmp_path: Path) -> None:
    merged = tmp_path / "m.gguf"
    merge_into_gguf(
        trained["gguf"],
        trained["peft"],
        merged,
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
    )
    prompts = prompt_tokens(merged, texts, 2, 48)
    res = logits_parity(trained["hf"], trained["peft"], merged, prompts, ParitySettings())
    assert res["ok"], res["failures"]
    assert res["adapter_vs_merged_max_abs_diff"] < 1e-3
    assert res["merged_vs_gguf_kl_mean"] < 1e-3


def test_logits_check_catches_a_gguf_without_the_adapter(trained: dict, texts: list[str]) -> None:
    prompts = prompt_tokens(trained["gguf"], texts, 2, 48)
    res = logits_parity(trained["hf"], trained["peft"], trained["gguf"], prompts, ParitySettings())
    assert not res["ok"]
    assert any("KL" in f or "top-1" in f for f in res["failures"])
