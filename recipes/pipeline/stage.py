"""Run prepare-data -> train -> evaluate (base vs tuned) -> export (quantize, evaluate, publish).

``legal-recipes pipeline --config recipes/configs/pipeline/<name>.yaml [--set key=value ...]``

Each stage is the stage's own recipe, loaded from its own YAML plus ``set`` overrides; the
pipeline only wires outputs to inputs (the data directory into training, the base and the tuned
model into evaluation, the tuned model into export). ``work_dir/state.json`` records, per stage,
a key of its config and of its inputs' content, the directory its ``run`` returned and a
signature of what it wrote there: a rerun skips every stage whose inputs, config and output are
unchanged (``recipes.shared.step_cache.step_valid``), and reruns the rest. An interrupted stage
resumes on its own (training from its checkpoints, evaluation from predictions.jsonl, export from
its step state). ``work_dir/report.md`` and ``report.html`` link every stage's report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, sha256_file
from legal_edge.settings.loader import ConfigError, load_config, to_dict
from recipes import evaluate, export, prepare_data, train
from recipes.shared.keys import content_key
from recipes.shared.paths import resolve_path
from recipes.shared.report import render_markdown, write_report
from recipes.shared.step_cache import stderr_logger, step_valid

from .config import STAGES, Config, PipelineError, StageSpec

log = stderr_logger("pipeline")

MODULES: dict[str, Any] = {
    "data": prepare_data,
    "train": train,
    "evaluate": evaluate,
    "export": export,
}

# What the next stage reads from each stage's output directory (the path its ``run`` returns),
# and the report linked from the summary.
ARTIFACTS: dict[str, tuple[str, ...]] = {
    "data": ("train.jsonl", "val.jsonl"),
    # not manifest.json itself: evaluation may add its numbers there
    "train": ("peft/adapter_model.safetensors",),
    "evaluate": ("results.json",),
    "export": ("summary.json",),
}
REPORTS = {
    "data": "report.md",
    "train": "loss_curve.png",
    "evaluate": "report.md",
    "export": "report.md",
}


def load_stages(cfg: Config) -> dict[str, Any]:
    """Each enabled stage's config (its YAML + overrides), wired to the previous stage's output."""
    out: dict[str, Any] = {}
    for stage in STAGES:
        spec: StageSpec = getattr(cfg, stage)
        if not spec.enabled:
            continue
        if spec.config is None:
            raise ConfigError(
                f"{stage}.config: a stage config is needed (or {stage}.enabled: false)"
            )
        try:
            out[stage] = load_config(MODULES[stage].Config, resolve_path(spec.config), spec.set)
        except ConfigError as exc:
            raise ConfigError(f"{stage}: {exc}") from None
    if "train" in out and "data" in out:
        out["train"] = dataclasses.replace(
            out["train"], data_dir=out["data"].output_dir, train_file=None, val_file=None
        )
    if "evaluate" in out and "train" in out:
        base = evaluate.ModelSpec(name="base", backend="gguf", path=str(out["train"].base_model))
        tuned = evaluate.ModelSpec(name="tuned", backend="gguf", path=str(out["train"].output_dir))
        out["evaluate"] = dataclasses.replace(
            out["evaluate"], models=(base, tuned), baseline="base", model_filter=()
        )
    if "export" in out and "train" in out:
        out["export"] = dataclasses.replace(out["export"], model=out["train"].output_dir)
    return out


def output_signature(stage: str, directory: str | Path | None) -> str | None:
    """What the next stage reads from this stage's output directory, hashed; None when it is not
    there (yet)."""
    if directory is None:
        return None
    d = Path(directory)
    if stage == "train" and not (d / "manifest.json").is_file():
        return None
    paths = [d / name for name in ARTIFACTS[stage]]
    if not all(p.is_file() for p in paths):
        return None
    return content_key([[sha256_file(p) for p in paths]])


def run(cfg: Config) -> Path:
    """Run every stage that changed; write the summary report; return the work directory."""
    unknown = sorted(set(cfg.force) - set(STAGES))
    if unknown:
        raise ConfigError(f"force: unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    stages = load_stages(cfg)
    work = resolve_path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.json"
    state: dict[str, Any] = (
        json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    )
    upstream: list[str | None] = []
    runs: dict[str, dict[str, Any]] = {}
    for stage, scfg in stages.items():
        key = content_key([stage, to_dict(scfg), upstream])
        prev = state.get(stage) or {}
        sig = output_signature(stage, prev.get("path"))
        if stage not in cfg.force and step_valid(prev, key) and sig and prev.get("output") == sig:
            log(f"{stage}: inputs, config and output unchanged; skipped")
            runs[stage] = {**prev, "status": "skipped"}
        else:
            log(f"{stage}: running ({'resuming' if prev.get('key') == key else 'changed'})")
            state[stage] = {"key": key, "started": time.time(), "status": "running"}
            atomic_write_json(state_path, state)
            t0 = time.perf_counter()
            try:
                result = MODULES[stage].run(scfg)
            except ConfigError:
                raise
            except Exception as exc:
                state[stage]["status"] = f"failed: {type(exc).__name__}"
                atomic_write_json(state_path, state)
                raise PipelineError(f"stage {stage} failed: {exc}") from exc
            sig = output_signature(stage, result)
            state[stage] = {
                "key": key,
                "output": sig,
                "path": str(result),
                "status": "done",
                "seconds": round(time.perf_counter() - t0, 1),
            }
            atomic_write_json(state_path, state)
            runs[stage] = {**state[stage], "status": "ran"}
        upstream.append(sig)
    write_summary(cfg, work, runs)
    return work


SUMMARY = """\
# Pipeline {{ name }}

{{ stages | table(["stage", "status", "seconds", "output", "report"]) }}

{% for section in sections %}
{{ section }}

{% endfor %}
"""


def write_summary(cfg: Config, work: Path, runs: dict[str, dict[str, Any]]) -> Path:
    """``report.md`` / ``report.html``: every stage's status, key numbers, links to its report;
    each stage read from the directory its ``run`` returned."""
    outputs = {stage: Path(r["path"]) for stage, r in runs.items() if r.get("path")}
    rows = []
    for stage, r in runs.items():
        out = outputs.get(stage)
        report = out / REPORTS[stage] if out else None
        link = (
            f"[{REPORTS[stage]}]({os.path.relpath(report, work)})"
            if report is not None and report.is_file()
            else "-"
        )
        shown = f"`{os.path.relpath(out, work)}`" if out else "-"
        rows.append([stage, r.get("status", "-"), r.get("seconds", "-"), shown, link])
    md = render_markdown(SUMMARY, name=cfg.name, stages=rows, sections=key_numbers(outputs))
    return write_report(work, md, f"Pipeline {cfg.name}")[0]


def key_numbers(outputs: dict[str, Path]) -> list[str]:
    """One Markdown section per stage with figures worth a glance."""
    sections: list[str] = []
    m = outputs.get("train", Path("-")) / "manifest.json"
    if m.is_file():
        t = json.loads(m.read_text(encoding="utf-8")).get("training") or {}
        sections.append(
            "## Training\n\n"
            f"- steps {t.get('steps')}, final train loss "
            f"{t.get('final_train_loss')}, val loss {t.get('initial_val_loss')} -> "
            f"{t.get('final_val_loss')}"
        )
    res = outputs.get("evaluate", Path("-")) / "results.json"
    if res.is_file():
        r = json.loads(res.read_text(encoding="utf-8"))
        rows = [
            [
                c.get("suite"),
                c.get("metric"),
                _num(c.get("original")),
                _num(c.get("other")),
                _num(c.get("change")),
            ]
            for c in r.get("comparison", [])[:20]
        ]
        sections.append(
            "## Base vs tuned\n\n"
            + render_markdown(
                "{{ rows | table(['suite', 'metric', 'base', 'tuned', 'change']) }}", rows=rows
            )
        )
    s = outputs.get("export", Path("-")) / "summary.json"
    if s.is_file():
        summary = json.loads(s.read_text(encoding="utf-8"))
        published = ", ".join(f"`{p}`" for p in summary["published"].values()) or "none"
        sections.append(
            "## Compression (export)\n\n"
            + export.table_markdown(summary["rows"])
            + f"\n\nPublished: {published}"
        )
    return sections


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "-"
