"""``bench/compare.py``: with ``--full-length`` the tokens it bans so that every server decodes
the whole ``--max-tokens``, read from a real GGUF's vocabulary (the tiny one); with ``--rounds``
the level each server reports from several runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from compare import comparison_table, ending_tokens, median_levels  # noqa: E402

from tests.fixtures.tiny_gguf import END_OF_TURN_ID, EOS_ID, START_OF_TURN_ID  # noqa: E402


def test_the_tokens_that_end_an_answer(tiny_gguf: Path) -> None:
    # llama.cpp's end-of-generation tokens, whatever the stop texts
    assert ending_tokens(tiny_gguf, []) == [EOS_ID, END_OF_TURN_ID]
    # a stop text that is one token (legal-edge stops on it) joins them; a longer one does not
    with_stops = ending_tokens(tiny_gguf, ["<start_of_turn>", "the", "the court held"])
    assert with_stops[:3] == [EOS_ID, START_OF_TURN_ID, END_OF_TURN_ID]
    assert len(with_stops) == 4  # ... and the one token of "the"


def _level(clients: int, tps: float, errors: int = 0, ttft: float = 0.5) -> dict:
    return {
        "concurrency": clients, "aggregate_tokens_per_s": tps, "errors": errors, "incomplete": 0,
        "ttft_s": {"p95": ttft}, "latency_s": {"p95": 2.0}, "itl_s": {"p50": 0.05},
        "completion_tokens": 256, "requested_tokens": 256,
    }  # fmt: skip


def test_rounds_report_the_median_round_of_each_level() -> None:
    rounds = [
        [_level(1, 50.0, ttft=0.1), _level(8, 100.0)],
        [_level(1, 40.0, ttft=0.2), _level(8, 120.0, errors=1)],
        [_level(1, 60.0, ttft=0.3), _level(8, 90.0)],
    ]
    one, eight = median_levels(rounds)
    # the middle round's figures together (its TTFT, not another round's), with the range
    assert one["aggregate_tokens_per_s"] == 50.0 and one["ttft_s"]["p95"] == 0.1
    assert one["tokens_per_s_range"] == [40.0, 60.0] and one["rounds"] == 3
    assert eight["aggregate_tokens_per_s"] == 100.0 and eight["tokens_per_s_range"] == [90.0, 120.0]
    assert eight["errors"] == 1  # an error in any round is not hidden by the median
    # two rounds: the lower one
    assert median_levels(rounds[:2])[0]["aggregate_tokens_per_s"] == 40.0
    table = comparison_table(
        {"a": {"levels": [one, eight]}, "b": {"levels": median_levels(rounds[1:])}}, "b"
    )
    assert "1.00x" in table and "40.0-60.0" in table and "90.0-120.0" in table
