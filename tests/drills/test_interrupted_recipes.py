"""Interrupted recipes drill (quick form): one ``kill -9`` each of prepare-data, train and export.

prepare-data runs its smoke config on the real rows; train runs its smoke config with a tiny random
base in place of Gemma (the same code, seconds instead of minutes; no adapter GGUF, which would be
one more start of torch) on the data drill's output; export runs on a tiny trained model with one
quantization. Each command is killed at a moment that leaves work to resume (prepare-data: its
cleaned-records checkpoint is on disk; train: two of six steps are checkpointed; export: its
first step is recorded), every file under its final name must then be whole, and the rerun's
artifacts must equal those of an uninterrupted run (made in this process). The long form kills
at random moments, the real base included: ``bench/drills.py recipes``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.drills import recipe_runs
from tests.drills.interrupt import ADAPTER_ATOL, Kill, Stage, interrupt

DEADLINE_S = 600  # the kill comes when the moment is reached; this only bounds a hang


def drill(stage: Stage, root: Path, when: Callable[[Path], bool]) -> Kill:
    ref = root / "reference"
    stage.run_here(ref)
    k = interrupt(stage, ref, root / "killed", DEADLINE_S, when)
    assert k.killed, f"{stage.name} ended before the moment came; nothing was interrupted"
    assert k.incomplete == [], f"half-written artifacts under their final names: {k.incomplete}"
    assert k.differences == [], f"the rerun differs from an uninterrupted run: {k.differences}"
    return k


def exists(pattern: str) -> Callable[[Path], bool]:
    return lambda root: any(root.glob(pattern))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, legal_data: Path) -> Path:
    """The data drill's folder; its reference output feeds the train drill."""
    root = tmp_path_factory.mktemp("data")
    drill(recipe_runs.data(), root, exists("data/.checkpoint/clean-*.pkl"))
    return root / "reference" / "data"


def test_prepare_data_killed_and_rerun(prepared: Path) -> None:
    assert (prepared / "train.jsonl").stat().st_size > 0


@pytest.mark.slow
def test_train_killed_and_rerun(prepared: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from tests.fixtures.tiny_hf import write_tiny_hf

    tiny = write_tiny_hf(tmp_path / "tiny")
    stage = recipe_runs.train(
        tiny.gguf, prepared, "max_steps=6", "eval_every=0", "convert_gguf=false"
    )
    k = drill(stage, tmp_path, exists("work/checkpoints/step-000002/state.json"))
    assert k.max_abs_diff is not None and k.max_abs_diff <= ADAPTER_ATOL


@pytest.mark.slow
def test_export_killed_and_rerun(tiny_trained: Path, tmp_path: Path) -> None:
    drill(recipe_runs.export(tiny_trained), tmp_path, exists("export/state.json"))
