"""What export reads from a model directory: paths the manifest's training section records are
relative to that manifest, wherever the command runs from."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from legal_edge.models.manifest import ModelManifest
from legal_edge.settings.loader import ConfigError
from recipes.export.config import Config, ExportError, MeasureSettings
from recipes.export.source import read_source, validation_texts


def _beside(tiny_trained: Path, tmp_path: Path) -> Path:
    return tiny_trained.parent / f"tuned-{tmp_path.name}"


def _relocated(tiny_trained: Path, target: Path, hf_dir: str | None) -> Path:
    """A copy of the tiny trained directory at ``target`` beside it (its relative file entries
    still hold), with ``training.base.hf_dir`` replaced."""
    shutil.copytree(tiny_trained, target)
    m = ModelManifest.read(target)
    training = dict(m.training or {})
    training["base"] = {**training["base"], "hf_dir": hf_dir}
    m.training = training
    m.write(target)
    return target


def test_base_hf_dir_is_read_relative_to_the_manifest(tiny_trained, tmp_path, monkeypatch):
    hf = Path(ModelManifest.read(tiny_trained).training["base"]["hf_dir"])
    target = _beside(tiny_trained, tmp_path)
    rel = os.path.relpath(hf, target)
    _relocated(tiny_trained, target, rel)
    assert not Path(rel).is_absolute()
    monkeypatch.chdir(tmp_path)  # not the manifest's directory, not the repo
    src = read_source(target)
    assert src.hf_dir == hf.resolve()
    assert src.peft_dir == (target / "peft").resolve()
    assert src.kind == "adapter" and src.base_gguf is not None


def test_a_missing_adapter_names_the_manifest(tiny_trained, tmp_path):
    target = _relocated(tiny_trained, _beside(tiny_trained, tmp_path), None)
    shutil.rmtree(target / "peft")
    with pytest.raises(ExportError, match="PEFT adapter .* named by the manifest is missing"):
        read_source(target)


def test_validation_texts_are_rendered_and_a_bad_line_names_file_and_line(tiny_trained, tmp_path):
    val = tmp_path / "val.jsonl"
    val.write_text('{"instruction": "问题", "output": "回答"}\n', encoding="utf-8")
    cfg = Config(measure=MeasureSettings(validation_file=val))
    texts = validation_texts(cfg, read_source(tiny_trained))
    assert len(texts) == 1 and "问题" in texts[0] and "<start_of_turn>" in texts[0]
    val.write_text('{"instruction": "问题", "output": "回答"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"val\.jsonl:2: not valid JSON"):
        validation_texts(cfg, read_source(tiny_trained))
