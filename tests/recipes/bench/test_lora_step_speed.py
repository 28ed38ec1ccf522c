"""The LoRA step benchmark at a shrunken Gemma 3 shape on CPU: every mode trains and is timed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recipes.bench.lora_step_speed import GEMMA3_270M, MODES, load_shape, main

pytest.importorskip("peft")

TINY = [
    "num_hidden_layers=2",
    "vocab_size=512",
    "hidden_size=32",
    "intermediate_size=64",
    "head_dim=16",
    "query_pre_attn_scalar=16",
]


def test_default_shape_is_gemma3_270m_and_overrides_keep_layer_types_aligned():
    assert load_shape(None, []) == GEMMA3_270M
    shape = load_shape(None, ["num_hidden_layers=8", "sliding_window=64"])
    assert shape["num_hidden_layers"] == 8 and shape["sliding_window"] == 64
    assert (
        shape["layer_types"]
        == ["sliding_attention"] * 5 + ["full_attention"] + ["sliding_attention"] * 2
    )


def test_every_mode_runs_and_reports_tokens_per_second(tmp_path):
    out = tmp_path / "speed.json"
    result = CliRunner().invoke(
        main,
        [
            "--device",
            "cpu",
            "--threads",
            "1",
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
            str(out),
            *[a for kv in TINY for a in ("--set", kv)],
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(out.read_text())
    assert [r["mode"] for r in report["rows"]] == list(MODES)
    for r in report["rows"]:
        assert r["batch"] == "2x32" and r["steps"] == 2 and r["tokens"] == 2 * 2 * 32
        assert r["tokens_per_s"] > 0 and r["trainable_params"] > 0
