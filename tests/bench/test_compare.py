"""``bench/compare.py --full-length``: the tokens it bans so that every server decodes the whole
``--max-tokens``, read from a real GGUF's vocabulary (the tiny one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from compare import ending_tokens  # noqa: E402

from tests.fixtures.tiny_gguf import END_OF_TURN_ID, EOS_ID, START_OF_TURN_ID  # noqa: E402


def test_the_tokens_that_end_an_answer(tiny_gguf: Path) -> None:
    # llama.cpp's end-of-generation tokens, whatever the stop texts
    assert ending_tokens(tiny_gguf, []) == [EOS_ID, END_OF_TURN_ID]
    # a stop text that is one token (legal-edge stops on it) joins them; a longer one does not
    with_stops = ending_tokens(tiny_gguf, ["<start_of_turn>", "the", "the court held"])
    assert with_stops[:3] == [EOS_ID, START_OF_TURN_ID, END_OF_TURN_ID]
    assert len(with_stops) == 4  # ... and the one token of "the"
