"""The export stage end to end on a tiny trained model: variants, table, gate, publish, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.models.manifest import resolve_model
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from legal_edge.settings.loader import ConfigError, load_config
from recipes.export import Config, run
from recipes.export.publish import QualityGate, gate

REPO = Path(__file__).resolve().parents[3]
SUITE = (
    "suites=[{name: jecqa, kind: mcq, path: ../shared/legal-data/mcq/jecqa_train.jsonl, "
    "limit: 4, modes: [loglik]}]"
)


def _cfg(model: Path, tmp: Path, *extra: str) -> Config:
    return load_config(
        Config,
        REPO / "recipes/configs/export/legal_gemma3_270m.yaml",
        [
            f"model={model}",
            f"output_dir={tmp / 'export'}",
            f"models_dir={tmp / 'models'}",
            "publish_name=tiny-legal",
            "quantizations=[Q8_0,Q4_K_M]",
            "parity.prompts=1",
            "parity.max_tokens=32",
            "parity.tokenizer_texts=5",
            "measure.kl_tokens=96",
            "measure.chunk_tokens=48",
            "measure.decode_tokens=8",
            "measure.serve_ctx=256",
            "measure.validation_file=../shared/legal-data/qa/lawyer_llama_single_turn.jsonl",
            SUITE,
            *extra,
        ],
    )


@pytest.mark.slow
def test_export_publishes_measured_variants_and_resumes(
    tiny_trained: Path, tmp_path: Path, legal_data: Path, capsys: pytest.CaptureFixture
) -> None:
    out = run(_cfg(tiny_trained, tmp_path, "gate.max_accuracy_drop=1.0"))
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["variant"]: r for r in summary["rows"]}
    assert set(rows) == {"F16", "Q8_0", "Q4_K_M", "adapter form (F32)"}
    for label, r in rows.items():
        assert r["size_mb"] > 0 and r["peak_rss_mb"] > 10 and r["decode_tok_s"] > 0, label
        assert r["perplexity"] > 1 and r["accuracy"]["n"] == 4, label
    assert rows["F16"]["kl_mean"] == 0.0
    # quantization costs something, and more bits cost less
    assert 0 < rows["Q8_0"]["kl_mean"] < rows["Q4_K_M"]["kl_mean"]
    assert rows["Q4_K_M"]["size_mb"] < rows["Q8_0"]["size_mb"] < rows["F16"]["size_mb"]
    # base + adapter at run time is the same model as the merge
    assert rows["adapter form (F32)"]["kl_mean"] < rows["Q8_0"]["kl_mean"]
    assert summary["parity"]["tokenizer"]["ok"] and summary["parity"]["logits"]["ok"]

    for q in ("q8_0", "q4_k_m"):
        m = resolve_model(f"tiny-legal-{q}", tmp_path / "models")
        m.verify_files(check_hash=True)
        assert m.stop == ["<end_of_turn>"] and m.chat_template == GEMMA_CHAT_TEMPLATE
        assert m.quantization == q.upper() and m.stage == "export"
        meta = read_gguf_metadata(m.model_path)
        assert meta["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE
        assert meta["file_type_name"] == q.upper()

    md = (out / "report.md").read_text()
    assert "| Q4_K_M |" in md and "needs a CUDA GPU" in md and (out / "report.html").is_file()

    # a rerun with the same inputs reuses every step
    capsys.readouterr()
    run(_cfg(tiny_trained, tmp_path, "gate.max_accuracy_drop=1.0"))
    log = capsys.readouterr().err
    assert ": running" not in log
    for step in ("merge", "parity", "quantize:Q4_K_M", "measure:Q8_0", "accuracy"):
        assert f"{step}: unchanged, reusing" in log

    # the gate refuses end to end: a KL ceiling between the two variants publishes Q8_0 only
    # (the measured steps are reused; only the gate and publishing run again)
    ceiling = (rows["Q8_0"]["kl_mean"] + rows["Q4_K_M"]["kl_mean"]) / 2
    strict = tmp_path / "models-strict"
    out = run(
        _cfg(
            tiny_trained,
            tmp_path,
            "gate.max_accuracy_drop=1.0",
            f"gate.max_kl={ceiling}",
            f"models_dir={strict}",
        )
    )
    rows = {r["variant"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    assert rows["Q4_K_M"]["gate"] == "refused" and "max_kl" in rows["Q4_K_M"]["gate_reason"]
    assert rows["Q8_0"]["gate"] == "pass"
    assert sorted(p.name for p in strict.iterdir()) == ["tiny-legal-q8_0"]
    assert "Q4_K_M refused" in (out / "report.md").read_text()


def test_gate_refuses_a_variant_that_loses_too_much() -> None:
    ref = {"accuracy": {"value": 0.60, "low": 0.5, "high": 0.7, "n": 100}}
    ok, _ = gate({"accuracy": {"value": 0.57}, "kl_mean": 0.01}, ref, QualityGate())
    assert ok
    ok, reason = gate({"accuracy": {"value": 0.50}, "kl_mean": 0.01}, ref, QualityGate())
    assert not ok and "0.100 below" in reason
    ok, reason = gate({"accuracy": {"value": 0.60}, "kl_mean": 0.3}, ref, QualityGate(max_kl=0.1))
    assert not ok and "max_kl" in reason
    ok, reason = gate({"accuracy": None}, ref, QualityGate())
    assert not ok and "no acc_loglik" in reason


def test_publish_must_be_a_quantization(tmp_path: Path) -> None:
    cfg = load_config(Config, None, ["quantizations=[Q8_0]", "publish=[Q4_K_M]"])
    with pytest.raises(ConfigError, match="publish: Q4_K_M"):
        run(cfg)


def test_configs_load() -> None:
    for p in sorted((REPO / "recipes/configs/export").glob("*.yaml")):
        load_config(Config, p, [])
