"""Run the loop measurement: questions through the server's own request path, then the metric.

Each question goes where an HTTP request goes after parsing: ``prepare`` (chat template, the
model manifest's generation defaults, ``default_max_tokens``) and ``Generation`` (the backend's
stream, stop strings), on the backend the server would build from its settings (llama.cpp,
continuous batching over ``n_parallel`` slots). Only the HTTP framing is left out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from legal_edge.backends import create_backend
from legal_edge.fileio import atomic_write_json, sha256_file
from legal_edge.models.manifest import resolve_model
from legal_edge.models.merged_build import select_form
from legal_edge.server.generation import Generation, ModelRuntime, prepare
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.settings.server import Settings
from recipes.evaluate.items import load_cases, sample
from recipes.evaluate.loops import ended_on_its_own, find_loop
from recipes.evaluate.textmetrics import char_f1, rouge_l
from recipes.shared.paths import resolve_path
from recipes.shared.progress import progress_bar

from .config import Config, LoopModel, RequestSetting


def host_description() -> str:
    """``lscpu``'s model name and CPU count (the figures depend on the box)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs"
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()


def reference_share(path: Path) -> dict[str, Any]:
    """How many of the data file's reference answers the metric flags (it should be ~0)."""
    loaded = load_cases(path)
    flagged = []
    for item in loaded.items:
        loop = find_loop(item.data["reference"])
        if loop is not None:
            flagged.append({"where": item.where, **dataclasses.asdict(loop)})
    n = len(loaded.items)
    return {
        "n": n,
        "flagged": len(flagged),
        "share": len(flagged) / n if n else 0.0,
        "examples": flagged[:10],
    }


async def _ask_all(
    runtime: ModelRuntime,
    settings: Settings,
    setting: RequestSetting,
    questions: list[dict[str, Any]],
    concurrency: int,
) -> list[dict[str, Any]]:
    metrics = Metrics()
    gate = asyncio.Semaphore(concurrency)
    extra = {
        k: getattr(setting, k)
        for k in ("temperature", "frequency_penalty", "presence_penalty", "seed")
        if getattr(setting, k) is not None
    }
    bar = progress_bar(len(questions), f"{runtime.name}/{setting.name}")

    async def ask(q: dict[str, Any]) -> dict[str, Any]:
        body = msgspec.convert(
            {
                "model": runtime.name,
                "messages": [{"role": "user", "content": q["prompt"]}],
                **extra,
            },
            ChatCompletionRequest,
        )
        async with gate:
            t0 = time.monotonic()
            prep = prepare(body, runtime, settings)
            gen = Generation(prep, metrics)
            await gen.start()
            text = "".join([d.text async for d in gen.deltas()])
            seconds = time.monotonic() - t0
        bar.update()
        return {
            "id": q["id"],
            "text": text,
            "finish_reason": gen.finish_reason,
            "completion_tokens": gen.usage.completion_tokens,
            "max_tokens": prep.params.max_tokens,
            "seconds": round(seconds, 2),
        }

    try:
        return list(await asyncio.gather(*(ask(q) for q in questions)))
    finally:
        bar.close()


def _score(answers: list[dict[str, Any]], references: dict[str, str]) -> dict[str, Any]:
    n = len(answers)
    for a in answers:
        loop = find_loop(a["text"])
        a["loop"] = dataclasses.asdict(loop) if loop else None
        a["ended"] = ended_on_its_own(a["finish_reason"], a["completion_tokens"], a["max_tokens"])
        ref = references[a["id"]]
        a["char_f1"] = round(char_f1(a["text"], ref), 4)
        a["rouge_l"] = round(rouge_l(a["text"], ref, max_units=600), 4)
    loops = sum(a["loop"] is not None for a in answers)
    ended = sum(a["ended"] for a in answers)
    return {
        "n": n,
        "loops": loops,
        "loop_share": loops / n,
        "ended": ended,
        "ended_share": ended / n,
        "loops_among_ended": sum(a["ended"] and a["loop"] is not None for a in answers),
        "mean_completion_tokens": sum(a["completion_tokens"] for a in answers) / n,
        "char_f1": sum(a["char_f1"] for a in answers) / n,
        "rouge_l": sum(a["rouge_l"] for a in answers) / n,
    }


async def _measure_model(
    cfg: Config,
    spec: LoopModel,
    settings: Settings,
    questions: list[dict[str, Any]],
    done: Callable[[RequestSetting, ModelRuntime, list[dict[str, Any]], float], None],
) -> None:
    # the form the server would load (its merged build when that passed its gate)
    manifest = select_form(resolve_model(spec.model, settings.models_dir), settings.model_form)
    if spec.generation is not None:
        manifest = dataclasses.replace(manifest, generation=dict(spec.generation))
    backend = create_backend(settings.backend, manifest, settings.backend_opts())
    runtime = ModelRuntime(name=manifest.name, manifest=manifest, backend=backend)
    await backend.start()
    try:
        for setting in cfg.settings:
            if cfg.setting_filter and setting.name not in cfg.setting_filter:
                continue
            t0 = time.monotonic()
            answers = await _ask_all(runtime, settings, setting, questions, cfg.concurrency)
            done(setting, runtime, answers, time.monotonic() - t0)
    finally:
        await backend.stop()


def measure(cfg: Config) -> Path:
    data = resolve_path(cfg.data)
    loaded = load_cases(data)
    items = sample(loaded.items, cfg.limit, cfg.seed)
    questions = [{"id": it.id, "prompt": it.data["prompt"]} for it in items]
    references = {it.id: it.data["reference"] for it in items}
    overrides: dict[str, Any] = {
        "models_dir": resolve_path(cfg.models_dir),
        "n_parallel": cfg.n_parallel,
        "n_threads": cfg.n_threads,
        "max_queue": max(64, cfg.concurrency),
        # a measurement, not a service: a slow shared box must not turn answers into timeouts
        "request_timeout_s": 24 * 3600.0,
    }
    if cfg.default_max_tokens is not None:
        overrides["default_max_tokens"] = cfg.default_max_tokens
    settings = dataclasses.replace(Settings(), **overrides)

    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with (out_dir / "answers.jsonl").open("w", encoding="utf-8") as fh:

        def done(
            setting: RequestSetting,
            runtime: ModelRuntime,
            answers: list[dict[str, Any]],
            seconds: float,
        ) -> None:  # each run is reported and kept as soon as it ends
            figures = _score(answers, references)
            run = {
                "model": spec.name,
                "served_as": runtime.name,
                "weights": [f.path for f in runtime.manifest.files],
                "setting": dataclasses.asdict(setting),
                "generation": runtime.manifest.generation,
                "default_max_tokens": settings.default_max_tokens,
                "seconds": round(seconds, 1),
                **figures,
            }
            runs.append(run)
            print(format_row(run), file=sys.stderr, flush=True)
            for a in answers:
                row = {"model": spec.name, "setting": setting.name, **a}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()

        for spec in cfg.models:
            if cfg.model_filter and spec.name not in cfg.model_filter:
                continue
            asyncio.run(_measure_model(cfg, spec, settings, questions, done))
    result = {
        "host": host_description(),
        "data": {
            "path": str(cfg.data),
            "sha256": sha256_file(data),
            "limit": cfg.limit,
            "seed": cfg.seed,
            "ids": [q["id"] for q in questions],
        },
        "config": _plain(dataclasses.asdict(cfg)),
        "references": reference_share(data) if cfg.references else None,
        "runs": runs,
    }
    path = atomic_write_json(out_dir / "loops.json", result)
    print(format_table(result))
    return path


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def format_row(run: dict[str, Any]) -> str:
    return (
        f"| {run['model']} | {run['setting']['name']} | {run['n']} "
        f"| {100 * run['loop_share']:.0f} % | {100 * run['ended_share']:.0f} % "
        f"| {run['mean_completion_tokens']:.0f} | {run['char_f1']:.3f} | {run['rouge_l']:.3f} "
        f"| {run['seconds']:.0f} |"
    )


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "| model | request | n | caught in a loop | ended on its own | mean tokens "
        "| char F1 | ROUGE-L | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
        *(format_row(r) for r in result["runs"]),
    ]
    ref = result.get("references")
    if ref:
        lines.append(
            f"\nreference answers flagged: {ref['flagged']} of {ref['n']} "
            f"({100 * ref['share']:.2f} %)"
        )
    return "\n".join(lines)
