"""The shipped legal model's vLLM form: the base's HF directory + the committed PEFT adapter,
under the model's own name, keeping its prompt format and statute index (the vLLM server itself
is tested in tests/legal_edge/backends/test_vllm.py, in .venv-vllm)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from legal_edge.backends.vllm.backend import lora_rank
from legal_edge.models.manifest import ManifestError, ModelManifest, resolve_model
from legal_edge.models.merged_build import served_form
from legal_edge.models.vllm_form import vllm_form, write_vllm_form
from tests.conftest import REPO

SHIPPED = REPO / "models" / "legal-gemma3-270m"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder with the shipped model's manifest and adapter, and an HF base."""
    legal = tmp_path / "models" / "legal-gemma3-270m"
    legal.mkdir(parents=True)
    shutil.copy(SHIPPED / "manifest.json", legal / "manifest.json")
    shutil.copytree(SHIPPED / "peft", legal / "peft")
    hf = tmp_path / "models" / "gemma3-270m-hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gemma3_text"}))
    return tmp_path / "models"


def test_the_legal_model_without_its_vllm_form_names_the_command(models: Path) -> None:
    shipped = resolve_model("legal-gemma3-270m", models)
    with pytest.raises(ManifestError, match=r"install\.sh --vllm"):
        vllm_form(shipped)


def test_the_vllm_form_is_the_base_plus_the_peft_adapter(models: Path) -> None:
    shipped = resolve_model("legal-gemma3-270m", models)
    write_vllm_form(shipped, models / "gemma3-270m-hf")
    form = vllm_form(resolve_model("legal-gemma3-270m", models))
    assert form.name == "legal-gemma3-270m"  # clients keep asking for the legal model
    assert form.path_of("hf") == (models / "gemma3-270m-hf").resolve()
    assert form.path_of("peft") == (models / "legal-gemma3-270m" / "peft").resolve()
    for key in ("chat_template", "stop", "generation", "statutes_index", "context_length"):
        assert getattr(form, key) == getattr(shipped, key), key
    assert served_form(form) == "adapter"
    form.verify_files(check_hash=True)
    assert lora_rank(form.path_of("peft")) == 16  # the shipped adapter's r


def test_a_missing_peft_directory_is_refused(models: Path) -> None:
    shutil.rmtree(models / "legal-gemma3-270m" / "peft")
    with pytest.raises(ManifestError, match="adapter_config.json"):
        write_vllm_form(resolve_model("legal-gemma3-270m", models), models / "gemma3-270m-hf")


def test_models_that_need_no_form_are_served_as_they_are(models: Path) -> None:
    hf = ModelManifest.read(models / "legal-gemma3-270m")
    hf.files = [f for f in hf.files if f.role != "adapter"]
    assert vllm_form(hf) is hf


def test_lora_rank_rounds_up_to_what_vllm_accepts(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 12, "rank_pattern": {}}))
    assert lora_rank(tmp_path) == 16
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 8, "rank_pattern": {"q": 40}}))
    assert lora_rank(tmp_path) == 64
