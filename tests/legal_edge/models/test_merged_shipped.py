"""The shipped model's merged build (made by install.sh) passes its gate and is what serve loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.models import merged_gate
from legal_edge.models.manifest import ModelManifest
from legal_edge.models.merged_build import BUILD_COMMAND, select_form, served_form
from legal_edge.settings.server import DEFAULT_MODEL
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped(default_base_gguf: Path) -> ModelManifest:
    directory = MODELS_DIR / DEFAULT_MODEL
    if not (directory / "merged" / "manifest.json").is_file():
        pytest.fail(f"no merged build in {directory}; run ./install.sh ({BUILD_COMMAND})")
    return ModelManifest.read(directory)


def test_auto_serves_the_merged_q8_0_under_the_same_name(shipped: ModelManifest) -> None:
    served = select_form(shipped, "auto")
    assert served_form(served) == "merged", "the merged build is not used (see the log line)"
    assert served.name == shipped.name and served.quantization == "Q8_0"
    assert served.file("adapter") is None and served.model_path.is_file()
    assert select_form(shipped, "adapter") is shipped


def test_the_merged_build_passes_its_gate_again(shipped: ModelManifest) -> None:
    served = select_form(shipped, "merged")
    gate = merged_gate.check_merged(served.model_path, shipped.model_path, shipped.adapter_path)  # type: ignore[arg-type]
    assert gate.passed, gate.describe()
    recorded = (served.derived_from or {})["gate"]
    # the same files on the same kind of host give the same figures; another CPU's kernels
    # round a little differently, hence the tolerance
    assert gate.kl_mean == pytest.approx(recorded["kl_mean"], abs=0.01)
