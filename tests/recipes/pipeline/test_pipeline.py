"""The whole pipeline on a tiny model and a few real rows: runs, skips when unchanged, reruns
only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from legal_edge.models.manifest import resolve_model
from legal_edge.settings.loader import ConfigError, load_config
from recipes.pipeline import Config, load_stages, run

REPO = Path(__file__).resolve().parents[3]
MCQ = [
    {
        "name": "jecqa",
        "kind": "mcq",
        "path": "../shared/legal-data/mcq/jecqa_train.jsonl",
        "limit": 3,
        "modes": ["loglik"],
    }
]


def _cfg(tmp: Path, base: Path, gate: float = 1.0) -> Config:
    """The smoke pipeline's stage configs, scaled down to the tiny model and a few real rows."""
    w = tmp / "pipe"
    sources = [
        {
            "name": "jecqa",
            "path": "mcq/jecqa_train.jsonl",
            "format": "mcq",
            "license": "research-only",
            "limit": 40,
        },
        {
            "name": "consult",
            "path": "qa/lawyer_llama_single_turn.jsonl",
            "format": "alpaca",
            "license": "research-only",
            "limit": 40,
            "category": "consultation",
        },
    ]
    cfg = {
        "name": "tiny",
        "work_dir": str(w),
        "data": {
            "config": "recipes/configs/data/smoke.yaml",
            "set": [
                f"output_dir={w}/data",
                "plots=false",
                f"sources={json.dumps(sources)}",
                "synthesis.enabled=false",
                "decontam.eval_files=[]",
            ],
        },
        "train": {
            "config": "recipes/configs/train/gemma3_270m_legal_cpu.yaml",
            "set": [
                f"base_model={base}",
                f"output_dir={w}/models/tiny-legal",
                f"work_dir={w}/train",
                "name=tiny-legal",
                "max_steps=1",
                "batch_size=2",
                "grad_accum=1",
                "max_seq_len=1024",
                "max_train_examples=8",
                "val_max_examples=2",
                "warmup_steps=0",
                "eval_every=0",
                "save_every=1",
            ],
        },
        "evaluate": {
            "config": "recipes/configs/eval/smoke.yaml",
            "set": [
                f"output_dir={w}/eval",
                "write_manifest=false",
                "limit=1",
                "suite_filter=[jecqa,xstest]",
            ],
        },
        "export": {
            "config": "recipes/configs/export/legal_gemma3_270m.yaml",
            "set": [
                f"output_dir={w}/export",
                f"models_dir={w}/models",
                "publish_name=tiny-legal",
                "quantizations=[Q8_0]",
                "publish=[Q8_0]",
                "parity.prompts=1",
                "parity.max_tokens=24",
                "parity.tokenizer_texts=3",
                "measure.kl_tokens=48",
                "measure.chunk_tokens=48",
                "measure.decode_tokens=4",
                "measure.serve_ctx=128",
                "compare_source_form=false",
                f"suites={json.dumps(MCQ)}",
                f"gate.max_accuracy_drop={gate}",
            ],
        },
    }
    path = tmp / f"pipeline-{gate}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return load_config(Config, path, [])


@pytest.mark.slow
def test_pipeline_runs_skips_and_reruns_changed_stages(
    tiny_trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, legal_data: Path
) -> None:
    monkeypatch.setenv("LEGAL_EDGE_CACHE", str(tmp_path / "cache"))
    base = tiny_trained.parent / "base"  # tiny GGUF + manifest, like models/gemma3-270m
    work = run(_cfg(tmp_path, base))
    state = json.loads((work / "state.json").read_text())
    assert [state[s]["status"] for s in ("data", "train", "evaluate", "export")] == ["done"] * 4
    published = resolve_model("tiny-legal-q8_0", work / "models")
    published.verify_files(check_hash=True)
    assert published.stop == ["<end_of_turn>"]
    report = (work / "report.md").read_text()
    for link in ("data/report.md", "eval/report.md", "export/report.md"):
        assert link in report
    assert "| Q8_0 |" in report

    run(_cfg(tmp_path, base))  # nothing changed: every stage skipped
    assert "| data | skipped |" in (work / "report.md").read_text()
    assert "| export | skipped |" in (work / "report.md").read_text()

    # a new gate: only export reruns (and reuses its own merged and measured files)
    run(_cfg(tmp_path, base, gate=0.9))
    report = (work / "report.md").read_text()
    assert "| train | skipped |" in report and "| export | ran |" in report


def test_smoke_config_wires_stage_outputs_to_inputs() -> None:
    stages = load_stages(load_config(Config, REPO / "recipes/configs/pipeline/smoke.yaml", []))
    assert stages["train"].data_dir == stages["data"].output_dir
    assert [m.path for m in stages["evaluate"].models] == [
        str(stages["train"].base_model),
        str(stages["train"].output_dir),
    ]
    assert stages["export"].model == stages["train"].output_dir


def test_a_bad_stage_override_names_the_stage() -> None:
    with pytest.raises(ConfigError, match="export: unknown config key nope"):
        load_stages(
            load_config(
                Config, REPO / "recipes/configs/pipeline/smoke.yaml", ["export.set=[nope=1]"]
            )
        )


def test_unknown_forced_stage_is_refused(tmp_path: Path) -> None:
    cfg = load_config(
        Config,
        REPO / "recipes/configs/pipeline/smoke.yaml",
        [f"work_dir={tmp_path}", "force=[deploy]"],
    )
    with pytest.raises(ConfigError, match="force: unknown stage 'deploy'"):
        run(cfg)


def test_the_gpu_fixed_answer_run_is_one_wired_command() -> None:
    """Issue 28's GPU run: balanced letters in the data it makes, weighted letters in training,
    continued from the shipped adapter into its own directory, evaluated on the exam items."""
    stages = load_stages(
        load_config(Config, REPO / "recipes/configs/pipeline/gpu_fixed_answer.yaml", [])
    )
    data, train = stages["data"], stages["train"]
    assert data.shuffle_mcq and data.balance_mcq_letters
    assert data.grounding.refusal_categories == ("safety",)
    assert data.max_per_category["exam_mcq"] > 300
    assert train.data_dir == data.output_dir
    assert train.answer_letter_weight > 1 and train.loss == "answer_only"
    assert train.init_adapter == Path("models/legal-gemma3-270m/peft")
    assert train.output_dir != Path("models/legal-gemma3-270m")  # never over the shipped model
    assert "export" not in stages
    assert {s.name for s in stages["evaluate"].suites} >= {"jecqa_single", "jecqa_single_grounded"}
