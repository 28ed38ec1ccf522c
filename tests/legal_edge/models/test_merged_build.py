"""The merged form: built from a tiny real base + LoRA, gated, and chosen by ``model_form``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from legal_edge.cli import main
from legal_edge.models import merged_gate
from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.models.lora_merge import load_gguf_adapter, write_merged_gguf
from legal_edge.models.manifest import ManifestError, ModelFile, ModelManifest, file_entry
from legal_edge.models.merged_build import build_merged, merged_build, select_form, served_form
from legal_edge.models.quantize import quantize_gguf
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from legal_edge.server.app import create_app
from legal_edge.settings.loader import ConfigError
from legal_edge.settings.server import Settings, load_settings
from tests.fixtures.tiny_gguf import write_tiny_gguf, write_tiny_lora

NAME = "tiny-legal"


def write_models(root: Path) -> Path:
    """``root/tiny-base`` (a tiny GGUF) and ``root/tiny-legal`` (base + LoRA GGUF, manifest with
    sha256s, like the shipped ``legal-gemma3-270m``); returns ``root``."""
    base = write_tiny_gguf(root / "tiny-base" / "tiny.gguf")
    adapter_dir = root / NAME
    adapter = write_tiny_lora(adapter_dir / "adapter.gguf")
    ModelManifest(
        name=NAME,
        base_model="tiny-test-model",
        files=[file_entry(adapter_dir, base, "model"), file_entry(adapter_dir, adapter, "adapter")],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
        context_length=2048,
        quantization="F32",
        license="test-only",
        license_file="../tiny-base/LICENSE",
        stage="train",
        evaluation={"suites": {}},
    ).write(adapter_dir)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir whose adapter model has a merged build (built once for the module)."""
    root = write_models(tmp_path_factory.mktemp("models"))
    result = build_merged(root, NAME)
    assert result.built and result.passed, result.gate
    return root


@pytest.fixture
def models(built: Path, tmp_path: Path) -> Path:
    """A copy of ``built`` a test may change."""
    return Path(shutil.copytree(built, tmp_path / "models"))


def card_and_metrics(models_dir: Path, **settings: object) -> tuple[dict, str]:
    s = Settings(backend="echo", model=NAME, models_dir=models_dir, **settings)  # type: ignore[arg-type]
    with TestClient(create_app(s)) as client:
        card = client.get(f"/v1/models/{NAME}").json()
        return card, client.get("/metrics").text


def test_build_records_inputs_and_gate_and_removes_the_f16(built: Path) -> None:
    parent = ModelManifest.read(built / NAME)
    merged = ModelManifest.read(built / NAME / "merged")
    assert merged.name == parent.name  # clients keep asking for the same name
    assert merged.quantization == "Q8_0" and merged.file("adapter") is None
    src = merged.derived_from or {}
    assert src["base_sha256"] == parent.file("model").sha256  # type: ignore[union-attr]
    assert src["adapter_sha256"] == parent.file("adapter").sha256  # type: ignore[union-attr]
    gate = src["gate"]
    assert gate["passed"] and gate["kl_mean"] <= merged_gate.MAX_KL
    assert gate["top1_agreement"] >= merged_gate.MIN_TOP1 and gate["positions"] > 100
    files = sorted(p.name for p in (built / NAME / "merged").iterdir())
    assert files == ["manifest.json", "tiny-legal-q8_0.gguf"]  # no F16 left behind
    meta = read_gguf_metadata(merged.model_path)
    assert meta["file_type_name"] == "Q8_0"
    assert meta["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE  # the parent's, stamped in
    assert merged.license_file == "../../tiny-base/LICENSE"  # still points at the same file
    assert merged.evaluation == parent.evaluation


def test_a_second_build_keeps_the_first(models: Path) -> None:
    gguf = models / NAME / "merged" / "tiny-legal-q8_0.gguf"
    before = gguf.stat().st_mtime_ns
    result = build_merged(models, NAME)
    assert not result.built and result.passed
    assert gguf.stat().st_mtime_ns == before


def test_the_parents_serving_keys_apply_without_a_rebuild(models: Path) -> None:
    path = models / NAME / "manifest.json"
    data = json.loads(path.read_text())
    data.update(stop=["<end_of_turn>", "\n\n\n"], context_length=1024, license="edited")
    path.write_text(json.dumps(data))
    served = select_form(ModelManifest.read(models / NAME), "auto")
    assert served_form(served) == "merged" and served.model_path.name == "tiny-legal-q8_0.gguf"
    assert served.stop == ["<end_of_turn>", "\n\n\n"] and served.context_length == 1024
    assert served.license == "edited" and served.license_file == "../../tiny-base/LICENSE"


def test_auto_serves_the_merged_build_and_adapter_forces_the_lora(built: Path) -> None:
    card, metrics = card_and_metrics(built)
    assert card["metadata"]["form"] == "merged" and card["metadata"]["quantization"] == "Q8_0"
    assert 'form="merged"' in metrics and 'quantization="Q8_0"' in metrics
    card, metrics = card_and_metrics(built, model_form="adapter")
    assert card["id"] == NAME
    assert card["metadata"]["form"] == "adapter" and card["metadata"]["quantization"] == "F32"
    assert 'form="adapter"' in metrics
    card, _ = card_and_metrics(built, model_form="merged")
    assert card["metadata"]["form"] == "merged"


def test_models_list_says_which_form_auto_serves(built: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["models", "list", "--models-dir", str(built)]).output
    assert "merged form: Q8_0, served (model_form auto)" in out
    bare = write_models(tmp_path)
    out = CliRunner().invoke(main, ["models", "list", "--models-dir", str(bare)]).output
    assert "merged form: no merged build" in out


def test_a_stale_build_is_not_served(models: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the adapter was retrained: its manifest records a new sha256
    path = models / NAME / "manifest.json"
    data = json.loads(path.read_text())
    data["files"][1]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    parent = ModelManifest.read(models / NAME)
    with caplog.at_level(logging.INFO, logger="legal_edge.server"):
        assert select_form(parent, "auto") is parent
    assert "another adapter or base" in caplog.text and "build-merged" in caplog.text
    with pytest.raises(ManifestError, match="stale"):
        select_form(parent, "merged")


def test_a_failed_gate_leaves_the_adapter_form_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_models(tmp_path)
    monkeypatch.setattr(merged_gate, "MAX_KL", -1.0)  # no merge can pass
    result = CliRunner().invoke(
        main, ["models", "build-merged", "--model", NAME, "--models-dir", str(root)]
    )
    assert result.exit_code == 1 and "quality gate FAILED" in result.output
    merged = ModelManifest.read(root / NAME / "merged")
    assert merged.derived_from["gate"]["passed"] is False  # type: ignore[index]
    assert not merged.model_path.exists()  # never served: not kept
    parent = ModelManifest.read(root / NAME)
    with caplog.at_level(logging.INFO, logger="legal_edge.server"):
        assert served_form(select_form(parent, "auto")) == "adapter"
    lines = [r.getMessage() for r in caplog.records if "quality gate failed" in r.getMessage()]
    assert len(lines) == 1 and "mean KL" in lines[0]
    # the same inputs under the same thresholds are not built again
    assert not build_merged(root, NAME).built


def test_merged_without_a_build_names_the_command(tmp_path: Path) -> None:
    root = write_models(tmp_path)
    parent = ModelManifest.read(root / NAME)
    assert merged_build(parent) == (None, "no merged build")
    with pytest.raises(ManifestError, match="legal-edge models build-merged --model tiny-legal"):
        select_form(parent, "merged")
    with pytest.raises(ManifestError, match="build-merged"):
        create_app(Settings(backend="echo", model=NAME, models_dir=root, model_form="merged"))
    assert served_form(select_form(parent, "auto")) == "adapter"


def test_a_full_model_is_served_as_it_is(tmp_path: Path) -> None:
    root = write_models(tmp_path)
    base = ModelManifest(
        name="b", base_model="b", files=[ModelFile("model", "tiny.gguf")], chat_template="x"
    )
    base.write(root / "tiny-base")
    base = ModelManifest.read(root / "tiny-base")
    assert select_form(base, "auto") is base and select_form(base, "adapter") is base
    with pytest.raises(ManifestError, match="nothing to merge"):
        select_form(base, "merged")


def test_the_gate_refuses_a_lora_merged_at_the_wrong_scale(built: Path, tmp_path: Path) -> None:
    parent = ModelManifest.read(built / NAME)
    wrong = write_tiny_lora(tmp_path / "x3.gguf", scale=3.0)  # same A and B directions, 3x B
    f16, q8 = tmp_path / "m-f16.gguf", tmp_path / "m-q8_0.gguf"
    write_merged_gguf(parent.model_path, load_gguf_adapter(wrong), f16, chat_template="x", stop=[])
    quantize_gguf(f16, q8, "Q8_0")
    gate = merged_gate.check_merged(q8, parent.model_path, parent.adapter_path)  # type: ignore[arg-type]
    assert not gate.passed and gate.kl_mean > merged_gate.MAX_KL, gate
    good = ModelManifest.read(built / NAME / "merged").derived_from["gate"]  # type: ignore[index]
    assert gate.kl_mean > 10 * good["kl_mean"]


def test_model_form_setting_from_env_and_bad_value() -> None:
    assert load_settings(None, environ={"LEGAL_EDGE_MODEL_FORM": "adapter"}).model_form == "adapter"
    with pytest.raises(ConfigError, match="model_form"):
        load_settings(None, environ={"LEGAL_EDGE_MODEL_FORM": "fast"})
