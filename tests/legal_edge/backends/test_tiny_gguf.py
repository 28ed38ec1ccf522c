"""The tiny GGUF fixture is a real model: llama.cpp loads it, tokenizes any text, generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.models.manifest import gguf_manifest
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, render_chat
from tests.fixtures.tiny_gguf import END_OF_TURN_ID, START_OF_TURN_ID, write_tiny_gguf

llama_cpp = pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def llm(tiny_gguf: Path):
    return open_llama(str(tiny_gguf), n_ctx=256, verbose=False)


def test_metadata_carries_template_and_gemma_family(tiny_gguf: Path) -> None:
    meta = read_gguf_metadata(tiny_gguf)
    assert meta["general.architecture"] == "gemma3"
    assert meta["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE
    manifest = gguf_manifest(tiny_gguf)
    assert manifest.chat_template == GEMMA_CHAT_TEMPLATE


def test_chat_prompt_tokenizes_with_special_turn_tokens(llm) -> None:
    prompt = render_chat(GEMMA_CHAT_TEMPLATE, [{"role": "user", "content": "合同法是什么？"}])
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    assert ids[0] == llm.token_bos()
    assert ids.count(START_OF_TURN_ID) == 2 and ids.count(END_OF_TURN_ID) == 1
    # byte fallback: text outside the vocabulary round-trips exactly
    text = "民法典第五百条 🙂 émoji"
    toks = llm.tokenize(text.encode(), add_bos=False, special=False)
    assert llm.detokenize(toks).decode("utf-8") == text


def test_greedy_generation_is_varied_and_deterministic(llm) -> None:
    first = llm("the court held that", max_tokens=24, temperature=0)["choices"][0]["text"]
    again = llm("the court held that", max_tokens=24, temperature=0)["choices"][0]["text"]
    assert first == again
    assert len(set(first)) > 5  # not one token repeated


def test_variants_differ_by_seed_and_reject_bad_shapes(tmp_path: Path) -> None:
    a = write_tiny_gguf(tmp_path / "a.gguf", seed=1, arch="llama")
    b = write_tiny_gguf(tmp_path / "b.gguf", seed=2, arch="llama")
    assert a.read_bytes() != b.read_bytes()
    with pytest.raises(ValueError, match="arch"):
        write_tiny_gguf(tmp_path / "c.gguf", arch="mamba")
