"""The committed model manifests: their training section is the typed record, without a path of
the machine that trained them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.models.manifest import ModelManifest
from recipes.shared.manifest import EvaluationRecord, TrainingRecord
from recipes.shared.paths import resolve_from_manifest
from tests.conftest import MODELS_DIR

TRAINED = sorted(
    p.parent
    for p in MODELS_DIR.glob("*/manifest.json")
    if json.loads(p.read_text(encoding="utf-8")).get("training")
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_a_trained_model_is_committed():
    assert TRAINED, f"no manifest with a training section under {MODELS_DIR}"


@pytest.mark.parametrize("model_dir", TRAINED, ids=lambda p: p.name)
def test_training_section_is_the_record_and_names_no_host_path(model_dir: Path):
    m = ModelManifest.read(model_dir)
    record = TrainingRecord.from_dict(m.training or {})
    assert record.to_dict() == m.training
    host = [s for s in _strings(m.training) if s.startswith(("/", "~")) or s[1:3] == ":\\"]
    assert not host, f"{model_dir.name}: training names host paths {host}"
    if record.base.gguf is not None:
        assert resolve_from_manifest(model_dir, record.base.gguf) == m.model_path


EVALUATED = sorted(
    p.parent
    for p in MODELS_DIR.glob("*/manifest.json")
    if json.loads(p.read_text(encoding="utf-8")).get("evaluation")
)


def test_evaluation_section_is_the_record_and_names_no_host_path():
    # every manifest that carries an evaluation (none may, after a retrain): one test, not one
    # per model, so that no evaluated model leaves a skipped, empty parameter set behind
    for model_dir in EVALUATED:
        m = ModelManifest.read(model_dir)
        record = EvaluationRecord.from_dict(m.evaluation or {})
        assert record.to_dict() == m.evaluation, model_dir.name
        assert record.suites and record.changes, model_dir.name
        host = [s for s in _strings(m.evaluation) if s.startswith(("/", "~")) or s[1:3] == ":\\"]
        assert not host, f"{model_dir.name}: evaluation names host paths {host}"
