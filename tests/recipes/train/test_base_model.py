"""A GGUF base becomes an HF directory whose tokenizer keeps the GGUF's control tokens."""

from __future__ import annotations

import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from recipes.shared.base_model import gguf_control_tokens, load_tokenizer, resolve_base
from recipes.train.data import check_template_tokens
from tests.fixtures.tiny_gguf import CONTROL_TOKENS, write_tiny_gguf

pytest.importorskip("transformers")


def test_dequantized_tokenizer_keeps_the_gguf_control_tokens(tmp_path, monkeypatch):
    # transformers 5.17 drops <start_of_turn>/<end_of_turn> when it converts a Gemma GGUF's
    # tokenizer; training then stops at the chat-template check (seen on a GPU host).
    monkeypatch.setenv("LEGAL_EDGE_CACHE", str(tmp_path / "cache"))
    gguf = write_tiny_gguf(tmp_path / "tiny.gguf", chat_template=GEMMA_CHAT_TEMPLATE)
    control = gguf_control_tokens(gguf)
    assert {"<start_of_turn>", "<end_of_turn>", "<eos>"} <= set(control)
    tok = load_tokenizer(resolve_base(gguf).hf_dir)
    assert check_template_tokens(tok, GEMMA_CHAT_TEMPLATE) == []
    turn = ["<start_of_turn>", "<end_of_turn>"]
    assert tok.convert_tokens_to_ids(turn) == [CONTROL_TOKENS.index(t) for t in turn]
