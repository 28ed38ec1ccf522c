"""Run prepare-data -> train -> evaluate (base vs tuned) -> export (quantize, evaluate, publish).

``legal-recipes pipeline --config recipes/configs/pipeline/<name>.yaml [--set key=value ...]``

Each stage is the stage's own recipe, loaded from its own YAML plus ``set`` overrides; the
pipeline only wires outputs to inputs (the data directory into training, the base and the tuned
model into evaluation, the tuned model into export). ``work_dir/state.json`` records, per stage,
a hash of its config and of its inputs' content, and a signature of its output: a rerun skips
every stage whose inputs, config and output are unchanged, and reruns the rest. An interrupted
stage resumes on its own (training from its checkpoints, evaluation from predictions.jsonl,
export from its step state). ``work_dir/report.md`` and ``report.html`` link every stage's
report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.config import ConfigError, load_config, to_dict
from legal_edge.fileio import atomic_write_json, sha256_file

STAGES = ("data", "train", "evaluate", "export")


@dataclass(frozen=True)
class StageSpec:
    config: Path | None = None  # the stage's YAML (recipes/configs/<stage>/<name>.yaml)
    set: tuple[str, ...] = ()  # overrides, as with --set on the stage's own command
    enabled: bool = True  # false: skip the stage (its inputs must then exist already)


@dataclass(frozen=True)
class Config:
    name: str = "pipeline"
    work_dir: Path = Path("runs/pipeline/default")  # state.json and the summary report
    data: StageSpec = field(default_factory=StageSpec)
    train: StageSpec = field(default_factory=StageSpec)
    evaluate: StageSpec = field(default_factory=StageSpec)
    export: StageSpec = field(default_factory=StageSpec)
    force: tuple[str, ...] = ()  # stages to rerun even when unchanged


class PipelineError(RuntimeError):
    """A stage failed; the message names the stage (its own error follows)."""


def _log(msg: str) -> None:
    print(f"[pipeline] {msg}", file=sys.stderr, flush=True)


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _files_sig(*paths: Path) -> str | None:
    """Content signature of a stage's output files; None when one is missing."""
    if not all(p.is_file() for p in paths):
        return None
    return _hash([sha256_file(p) for p in paths])


def load_stages(cfg: Config) -> dict[str, Any]:
    """Each enabled stage's config (its YAML + overrides), wired to the previous stage's output."""
    from recipes import evaluate, export_gguf, prepare_data, train
    from recipes.evaluate import resolve_path

    modules = {
        "data": prepare_data,
        "train": train,
        "evaluate": evaluate,
        "export": export_gguf,
    }
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
            out[stage] = load_config(modules[stage].Config, resolve_path(spec.config), spec.set)
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


def output_signature(stage: str, cfg: Any) -> str | None:
    """What the next stage reads from this one, hashed; None when it is not there (yet)."""
    from recipes.evaluate import resolve_path

    if stage == "data":
        d = resolve_path(cfg.output_dir)
        return _files_sig(d / "train.jsonl", d / "val.jsonl")
    if stage == "train":
        d = resolve_path(cfg.output_dir)
        # not manifest.json itself: evaluation may add its numbers there
        return (
            _files_sig(d / "peft" / "adapter_model.safetensors")
            if (d / "manifest.json").is_file()
            else None
        )
    if stage == "evaluate":
        return _files_sig(resolve_path(cfg.output_dir) / "results.json")
    return _files_sig(resolve_path(cfg.output_dir) / "summary.json")


def run(cfg: Config) -> Path:
    """Run every stage that changed; write the summary report; return the work directory."""
    from recipes import evaluate, export_gguf, prepare_data, train
    from recipes.evaluate import resolve_path

    modules = {
        "data": prepare_data,
        "train": train,
        "evaluate": evaluate,
        "export": export_gguf,
    }
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
        key = _hash(stage, to_dict(scfg), upstream)
        prev = state.get(stage) or {}
        sig = output_signature(stage, scfg)
        if stage not in cfg.force and prev.get("key") == key and sig and prev.get("output") == sig:
            _log(f"{stage}: inputs, config and output unchanged; skipped")
            runs[stage] = {**prev, "status": "skipped"}
        else:
            _log(f"{stage}: running ({'resuming' if prev.get('key') == key else 'changed'})")
            state[stage] = {"key": key, "started": time.time(), "status": "running"}
            atomic_write_json(state_path, state)
            t0 = time.perf_counter()
            try:
                result = modules[stage].run(scfg)
            except ConfigError:
                raise
            except Exception as exc:
                state[stage]["status"] = f"failed: {type(exc).__name__}"
                atomic_write_json(state_path, state)
                raise PipelineError(f"stage {stage} failed: {exc}") from exc
            sig = output_signature(stage, scfg)
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
    write_summary(cfg, work, stages, runs)
    return work


REPORTS = {
    "data": "report.md",
    "train": "loss_curve.png",
    "evaluate": "report.md",
    "export": "report.md",
}


def _rel(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start)


def write_summary(
    cfg: Config, work: Path, stages: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> Path:
    """``report.md`` / ``report.html``: every stage's status, key numbers, links to its report."""
    import html

    from recipes.evaluate import resolve_path

    lines = [
        f"# Pipeline {cfg.name}",
        "",
        "| stage | status | seconds | output | report |",
        "|---|---|---|---|---|",
    ]
    for stage, scfg in stages.items():
        r = runs.get(stage, {})
        out = resolve_path(scfg.output_dir)
        report = out / REPORTS[stage]
        link = f"[{REPORTS[stage]}]({_rel(report, work)})" if report.is_file() else "-"
        lines.append(
            f"| {stage} | {r.get('status', '-')} | {r.get('seconds', '-')} | "
            f"`{_rel(out, work)}` | {link} |"
        )
    lines.append("")
    lines += _key_numbers(stages)
    md = "\n".join(lines) + "\n"
    from legal_edge.fileio import atomic_write_text

    atomic_write_text(work / "report.md", md)
    atomic_write_text(
        work / "report.html",
        (
            "<!doctype html><html><head><meta charset='utf-8'><title>Pipeline "
            f"{html.escape(cfg.name)}</title></head><body><pre>{html.escape(md)}</pre>"
            "</body></html>"
        ),
    )
    return work / "report.md"


def _key_numbers(stages: dict[str, Any]) -> list[str]:
    from recipes.evaluate import resolve_path

    lines: list[str] = []
    if "train" in stages:
        m = resolve_path(stages["train"].output_dir) / "manifest.json"
        if m.is_file():
            t = json.loads(m.read_text(encoding="utf-8")).get("training") or {}
            lines += [
                "## Training",
                "",
                f"- steps {t.get('steps')}, final train loss "
                f"{t.get('final_train_loss')}, val loss {t.get('initial_val_loss')} -> "
                f"{t.get('final_val_loss')}",
                "",
            ]
    if "evaluate" in stages:
        res = resolve_path(stages["evaluate"].output_dir) / "results.json"
        if res.is_file():
            r = json.loads(res.read_text(encoding="utf-8"))
            lines += [
                "## Base vs tuned",
                "",
                "| suite | metric | base | tuned | change |",
                "|---|---|---|---|---|",
            ]
            for c in r.get("comparison", [])[:20]:
                lines.append(
                    f"| {c.get('suite')} | {c.get('metric')} | {_num(c.get('original'))} "
                    f"| {_num(c.get('other'))} | {_num(c.get('change'))} |"
                )
            lines.append("")
    if "export" in stages:
        s = resolve_path(stages["export"].output_dir) / "summary.json"
        if s.is_file():
            from recipes.export.report import table_markdown

            summary = json.loads(s.read_text(encoding="utf-8"))
            lines += [
                "## Compression (export)",
                "",
                table_markdown(summary["rows"]),
                "",
                "Published: "
                + (", ".join(f"`{p}`" for p in summary["published"].values()) or "none"),
                "",
            ]
    return lines


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "-"
