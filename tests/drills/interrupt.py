"""Interrupted recipes: ``kill -9`` a stage at a chosen moment, inspect, rerun, compare.

A stage runs as the real ``legal-recipes`` command in a session of its own, so the kill takes its
helper processes too (llama.cpp's converters, the export's measurement processes). Right after the
kill every file under a final name must be whole (``artifacts.incomplete``); the same command run
again must finish, and its artifacts must equal those of an uninterrupted run of the same config
(the stage's ``compare``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.drills import artifacts

REPO = Path(__file__).resolve().parents[2]  # configs name data paths relative to it
LEGAL_RECIPES = str(Path(sys.executable).with_name("legal-recipes"))
# The prepare-data outputs that must be byte-identical (the report and manifest hold timings).
DATA_FILES = [
    "train.jsonl",
    "val.jsonl",
    "rejected.jsonl",
    "train_sharegpt.jsonl",
    "val_sharegpt.jsonl",
    "dataset_info.json",
]
# LoRA weights after a resume: the checkpoint restores weights, optimizer, scheduler and RNG, so
# the rerun repeats the same steps; what is left is float summation order. The adapter is saved
# in fp16, whose step near 1 is 1e-3.
ADAPTER_ATOL = 2e-3


@dataclass(frozen=True)
class Stage:
    """One recipe command: its config and ``--set`` values for an output folder, the folders it
    writes, and how a rerun's artifacts are compared with an uninterrupted run's."""

    name: str  # the legal-recipes verb
    module: str  # the stage package (its run(cfg) is what the verb calls)
    config: Path
    sets: Callable[[Path], list[str]]
    outputs: Callable[[Path], list[Path]]
    compare: Callable[[Path, Path], tuple[list[str], float | None]]

    def argv(self, root: Path) -> list[str]:
        sets = [arg for v in self.sets(root) for arg in ("--set", v)]
        return [LEGAL_RECIPES, self.name, "--config", str(self.config), *sets]

    def run_here(self, root: Path) -> float:
        """The uninterrupted reference, in this process (saves a start of torch); seconds."""
        from recipes.cli import load_stage_config

        t0 = time.monotonic()
        module, cfg = load_stage_config(self.module, self.config, tuple(self.sets(root)))
        cwd = Path.cwd()
        os.chdir(REPO)
        try:
            module.run(cfg)
        finally:
            os.chdir(cwd)
        return time.monotonic() - t0


@dataclass
class Kill:
    stage: str
    at_s: float
    killed: bool  # False: the run ended before the moment came
    incomplete: list[str] = field(default_factory=list)
    files_at_kill: int = 0  # under final names: how far the killed run had come
    temp_files_left: int = 0
    rerun_s: float = 0.0
    differences: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _popen(argv: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the kill takes the stage's helper processes too
            cwd=REPO,
        )


def run_whole(argv: list[str], log: Path, timeout: float = 1800) -> float:
    """Run to the end; the seconds it took. A failure raises with the log's tail."""
    t0 = time.monotonic()
    proc = _popen(argv, log)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = -1
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv[:2])} exited {rc}; log {log}:\n{tail}")
    return time.monotonic() - t0


def run_killed(
    argv: list[str], log: Path, at_s: float, when: Callable[[], bool] | None = None
) -> bool:
    """Start, ``kill -9`` the whole process group ``at_s`` seconds in (or as soon as ``when()``
    holds, polled every 10 ms); False if the command ended first."""
    proc = _popen(argv, log)
    deadline = time.monotonic() + at_s
    while proc.poll() is None:
        if time.monotonic() >= deadline or (when is not None and when()):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    return False


def interrupt(
    stage: Stage, ref: Path, work: Path, at_s: float, when: Callable[[Path], bool] | None = None
) -> Kill:
    """One drill round in the fresh folder ``work``: kill at ``at_s`` (or when ``when(work)``),
    check the output folders, rerun to the end, compare with the reference run in ``ref``."""
    argv = stage.argv(work)
    log = work / "drill.log"
    t0 = time.monotonic()
    killed = run_killed(argv, log, at_s, (lambda: when(work)) if when else None)
    out = Kill(stage.name, round(time.monotonic() - t0, 2), killed)
    dirs = stage.outputs(work)
    out.incomplete = artifacts.incomplete(*dirs)
    out.files_at_kill = sum(len(artifacts.final_files(d)) for d in dirs if d.exists())
    out.temp_files_left = sum(len(artifacts.temp_files(d)) for d in dirs if d.exists())
    out.rerun_s = round(run_whole(argv, log), 1)
    out.incomplete += artifacts.incomplete(*dirs)
    left = [str(p) for d in dirs if d.exists() for p in artifacts.temp_files(d)]
    out.differences += [f"{p}: a temporary file the rerun did not clean up" for p in left]
    out.differences, out.max_abs_diff = stage.compare(ref, work)
    return out


# --- the three stages ---------------------------------------------------------------------------


def data_stage(config: Path, *extra: str) -> Stage:
    def sets(root: Path) -> list[str]:
        return [f"output_dir={root / 'data'}", *extra]

    def compare(ref: Path, got: Path) -> tuple[list[str], float | None]:
        return artifacts.compare_bytes(ref / "data", got / "data", DATA_FILES), None

    return Stage(
        "prepare-data", "recipes.prepare_data", config, sets, lambda r: [r / "data"], compare
    )


def train_stage(config: Path, *extra: str) -> Stage:
    def sets(root: Path) -> list[str]:
        return [f"output_dir={root / 'model'}", f"work_dir={root / 'work'}", *extra]

    def compare(ref: Path, got: Path) -> tuple[list[str], float | None]:
        diffs: list[str] = []
        worst = 0.0
        for name, load in (
            ("peft/adapter_model.safetensors", artifacts.safetensors_tensors),
            ("adapter.gguf", artifacts.gguf_tensors),
        ):
            a, b = ref / "model" / name, got / "model" / name
            if not a.is_file():
                continue  # not made by this config (convert_gguf=false)
            if not b.is_file():
                diffs.append(f"{name}: missing")
                continue
            d = artifacts.max_abs_diff(load(a), load(b))
            worst = max(worst, d)
            if d > ADAPTER_ATOL:
                diffs.append(f"{name}: max |diff| {d:.2e} > {ADAPTER_ATOL}")
        return diffs, worst

    def outputs(root: Path) -> list[Path]:
        return [root / "model", root / "work"]

    return Stage("train", "recipes.train", config, sets, outputs, compare)


def export_stage(config: Path, *extra: str) -> Stage:
    def sets(root: Path) -> list[str]:
        return [f"output_dir={root / 'export'}", f"models_dir={root / 'models'}", *extra]

    def compare(ref: Path, got: Path) -> tuple[list[str], float | None]:
        names = sorted(str(p.relative_to(ref)) for p in ref.rglob("*.gguf") if p.is_file())
        names = [n for n in names if not any(part.startswith(".") for part in Path(n).parts)]
        if not names:
            return ["the uninterrupted run wrote no GGUF"], None
        return artifacts.compare_bytes(ref, got, names), None

    outputs = lambda r: [r / "export", r / "models"]  # noqa: E731
    return Stage("export", "recipes.export", config, sets, outputs, compare)
