"""The interrupted-recipes drill's three commands as configured for it, and its long form.

Quick form (tests/drills/test_interrupted_recipes.py): one kill each at a moment that leaves
work to resume. Long form (``bench/drills.py recipes``): an uninterrupted run of each stage, then
``kills`` runs killed at random moments between 5 % and 95 % of its time, each rerun to the end
and compared with it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.drills.interrupt import (
    REPO,
    Kill,
    Stage,
    data_stage,
    export_stage,
    interrupt,
    run_whole,
    train_stage,
)

CONFIGS = REPO / "recipes" / "configs"
STAGES = ("prepare-data", "train", "export")
VALIDATION = "../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"
JECQA = "../shared/legal-data/mcq/jecqa_train.jsonl"


def data(*extra: str) -> Stage:
    """prepare-data on its smoke config (the real rows)."""
    return data_stage(CONFIGS / "data" / "smoke.yaml", "plots=false", *extra)


def train(base: Path, data_dir: Path, *extra: str) -> Stage:
    """train on its smoke config, a checkpoint every step (so a rerun resumes)."""
    return train_stage(
        CONFIGS / "train" / "smoke.yaml",
        f"base_model={base}",
        f"data_dir={data_dir}",
        "save_every=1",
        *extra,
    )


def export(model: Path, quantizations: str = "[Q8_0]", *extra: str) -> Stage:
    """export with the pipeline smoke config's small measurement settings."""
    return export_stage(
        CONFIGS / "export" / "legal_gemma3_270m.yaml",
        f"model={model}",
        "publish_name=drill",
        f"quantizations={quantizations}",
        "publish=[Q8_0]",
        "compare_source_form=false",
        "parity.prompts=1",
        "parity.max_tokens=16",
        "parity.tokenizer_texts=5",
        "measure.kl_tokens=64",
        "measure.chunk_tokens=32",
        "measure.decode_tokens=8",
        "measure.serve_ctx=256",
        f"measure.validation_file={VALIDATION}",
        f"suites=[{{name: jecqa, kind: mcq, path: {JECQA}, limit: 2, modes: [loglik]}}]",
        "gate.max_accuracy_drop=1.0",
        *extra,
    )


@dataclass
class StageDrill:
    stage: str
    reference_s: float
    kills: list[Kill] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        diffs = [k.max_abs_diff for k in self.kills if k.max_abs_diff is not None]
        return {
            "stage": self.stage,
            "reference_s": round(self.reference_s, 1),
            "kills": len(self.kills),
            "killed_before_the_end": sum(k.killed for k in self.kills),
            "kill_at_s": [k.at_s for k in self.kills],
            "files_at_kill": [k.files_at_kill for k in self.kills],
            "incomplete_files": sum(len(k.incomplete) for k in self.kills),
            "temp_files_left": sum(k.temp_files_left for k in self.kills),
            "reruns_equal": sum(not k.differences for k in self.kills),
            "max_abs_diff": max(diffs) if diffs else None,
            "problems": [p for k in self.kills for p in k.incomplete + k.differences],
        }


def drill_stage(
    stage: Stage,
    root: Path,
    kills: int,
    rng: random.Random,
    report: Callable[[Kill], None] = lambda k: None,
) -> StageDrill:
    """An uninterrupted run in ``root/reference`` (kept from an earlier run in the same folder
    when its ``seconds.json`` is there), then ``kills`` killed-and-rerun rounds."""
    ref = root / "reference"
    timing = ref / "seconds.json"
    if timing.is_file():
        seconds = json.loads(timing.read_text())["seconds"]
    else:
        seconds = run_whole(stage.argv(ref), ref / "drill.log")
        timing.write_text(json.dumps({"seconds": seconds}))
    out = StageDrill(stage.name, seconds)
    for i in range(kills):
        at = rng.uniform(0.05, 0.95) * out.reference_s
        out.kills.append(interrupt(stage, ref, root / f"kill-{i}", at))
        report(out.kills[-1])
    return out


def long_form(
    root: Path,
    kills: int,
    seed: int,
    base: str,
    stages: tuple[str, ...] = STAGES,
    report: Callable[[Kill], None] = lambda k: None,
) -> Iterator[StageDrill]:
    """The stages in order, each as it is done; ``base`` "real" trains and exports the default
    Gemma 3 270M, "tiny" a random tiny model (the same code, minutes instead of an hour). A
    stage left out uses the reference output of an earlier run in ``root``."""
    rng = random.Random(seed)
    if "prepare-data" in stages:
        yield drill_stage(data(), root / "data", kills, rng, report)
    data_dir = root / "data" / "reference" / "data"
    if "train" in stages:
        if base == "real":
            train_base = REPO / "models" / "gemma3-270m"
            extra: tuple[str, ...] = ()
        else:
            from tests.fixtures.tiny_hf import write_tiny_hf

            train_base = write_tiny_hf(root / "tiny").gguf
            extra = ("max_steps=6",)
        stage = train(train_base, data_dir, *extra)
        yield drill_stage(stage, root / "train", kills, rng, report)
    if "export" in stages:
        if base == "real":
            model = root / "train" / "reference" / "model"
            quants = "[Q8_0,Q4_K_M]"
        else:
            from tests.recipes.export.conftest import write_tiny_trained

            model = write_tiny_trained(root / "tiny-trained")
            quants = "[Q8_0]"
        yield drill_stage(export(model, quants), root / "export", kills, rng, report)
