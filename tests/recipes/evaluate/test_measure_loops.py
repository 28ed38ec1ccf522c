"""The measure-loops command: its config, and a run through the server path on the tiny GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from legal_edge.settings.loader import load_config
from recipes.cli import main
from recipes.evaluate.measure_loops import Config

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "recipes/configs/loops/default.yaml"


def test_the_config_loads_and_names_its_command():
    cfg = load_config(Config, CONFIG)
    assert {m.name for m in cfg.models} >= {"base", "shipped"}
    assert [s.temperature for s in cfg.settings] == [0.0, None]  # greedy, and left out
    head = CONFIG.read_text(encoding="utf-8").splitlines()[:3]
    assert any(
        "legal-recipes measure-loops --config recipes/configs/loops/default.yaml" in line
        for line in head
    )


def test_a_run_on_the_tiny_model_writes_figures_and_answers(tiny_gguf: Path, tmp_path: Path):
    pytest.importorskip("llama_cpp")
    data = tmp_path / "qa.jsonl"
    rows = [
        {"instruction": "合同无效怎么办？", "output": "根据《民法典》第一百五十七条，" * 1},
        {"instruction": "离婚财产如何分割？", "output": "夫妻共同财产原则上均等分割。"},
        {"instruction": "被拖欠工资怎么办？", "output": "可以申请劳动仲裁。" + "、拖欠工资" * 20},
    ]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    config = tmp_path / "loops.yaml"
    config.write_text(
        f"output_dir: {tmp_path / 'out'}\ndata: {data}\nlimit: 3\nn_parallel: 2\nn_threads: 1\n"
        f"default_max_tokens: 12\nmodels:\n  - name: tiny\n    model: {tiny_gguf}\n"
        "    generation: {dry_multiplier: 0.8}\n"
        "settings:\n  - name: greedy\n    temperature: 0\n  - name: default\n",
        "utf-8",
    )
    result = CliRunner().invoke(main, ["measure-loops", "--config", str(config)])
    assert result.exit_code == 0, (result.output, result.exception)
    out = json.loads((tmp_path / "out" / "loops.json").read_text("utf-8"))
    assert [(r["setting"]["name"], r["n"]) for r in out["runs"]] == [("greedy", 3), ("default", 3)]
    assert out["runs"][0]["generation"] == {"dry_multiplier": 0.8}
    for run in out["runs"]:
        assert run["default_max_tokens"] == 12
        assert 0.0 <= run["loop_share"] <= 1.0 and 0.0 <= run["ended_share"] <= 1.0
    assert out["references"]["flagged"] == 1  # the third reference loops
    answers = (tmp_path / "out" / "answers.jsonl").read_text("utf-8").splitlines()
    assert len(answers) == 6
    assert all(json.loads(a)["max_tokens"] == 12 for a in answers)
    assert "caught in a loop" in result.output
