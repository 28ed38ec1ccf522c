"""The evaluation loop: prepare suites once, run every model over them, aggregate, report."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from legal_edge.settings.loader import ConfigError, to_dict
from legal_edge.statutes.index import StatuteIndex
from recipes.evaluate import case, crime, grounding, mcq, safety, served
from recipes.evaluate.backends import BackendError, ContextOverflow, EvalBackend, make_backend
from recipes.evaluate.config import Config, ModelSpec, SuiteSpec
from recipes.evaluate.items import DataError, Item
from recipes.evaluate.predictions import PredictionStore, signature
from recipes.evaluate.record import update_manifests
from recipes.evaluate.report import aggregate, write_reports
from recipes.evaluate.suites import PreparedSuite, prepare_suite
from recipes.shared.progress import progress_bar


def _predict(
    backend: EvalBackend,
    suite: PreparedSuite,
    item: Item,
    cfg: Config,
    index: StatuteIndex | None,
    server: served.ServedGrounding | None = None,
) -> dict[str, Any]:
    spec = suite.spec
    chars = cfg.article_chars if spec.retrieval else None
    if spec.kind in ("mcq", "general"):
        return mcq.predict(
            backend,
            item,
            modes=spec.modes,
            shots=suite.shots_for(item),
            max_tokens=suite.max_tokens,
            general=spec.kind == "general",
            article_chars=chars,
        )
    via = server if spec.grounded is True else None
    if spec.kind == "case":
        return case.predict(
            backend,
            item,
            max_tokens=suite.max_tokens,
            system=spec.system_prompt,
            index=index,
            article_chars=chars,
            served=via,
        )
    if spec.kind == "crime_questions":
        return crime.predict(backend, item, max_tokens=suite.max_tokens, served=via)
    return safety.predict(backend, item, max_tokens=suite.max_tokens, served=via)


def run_suite(
    backend: EvalBackend,
    model: ModelSpec,
    suite: PreparedSuite,
    store: PredictionStore,
    sig: str,
    cfg: Config,
    index: StatuteIndex | None = None,
    server: served.ServedGrounding | None = None,
) -> tuple[list[dict[str, Any]], float | None]:
    records = []
    started_at, fresh_items = time.monotonic(), 0
    # Questions that share few-shot examples run one after another, so the shared prompt prefix
    # stays in the KV cache (alternating kinds would re-decode the shots every time).
    order = sorted(
        suite.items,
        key=lambda it: (
            it.groups.get("subject", "")
            if suite.spec.kind == "general"
            else it.data.get("kind", "")
        ),
    )
    with progress_bar(len(order), f"{model.name}/{suite.spec.name}") as bar:
        for item in order:
            rec = store.get(model.name, suite.spec.name, item.id, sig)
            fresh = rec is None
            if rec is None:
                started = time.monotonic()
                try:
                    body = _predict(backend, suite, item, cfg, index, server)
                except ContextOverflow as exc:
                    body = {"skipped": "prompt exceeds context", "detail": str(exc), "metrics": {}}
                rec = {
                    "model": model.name,
                    "suite": suite.spec.name,
                    "id": item.id,
                    "sig": sig,
                    "where": item.where,
                    "groups": item.groups,
                    **body,
                    "seconds": round(time.monotonic() - started, 3),
                }
                store.add(rec)
            records.append(rec)
            fresh_items += int(fresh)
            bar.update(1)
    # Speed from the items' own timings, so a resumed run still reports it.
    timed = [r["seconds"] for r in records if r.get("seconds")]
    elapsed = time.monotonic() - started_at
    rate = round(len(timed) / sum(timed), 3) if timed else None
    if rate is None and fresh_items and elapsed > 0:
        rate = round(fresh_items / elapsed, 3)
    # one line per suite for logs and CI, where the bar stays silent
    speed = f", {rate:.2f} items/s" if rate else ""
    print(
        f"[{model.name}/{suite.spec.name}] {len(records)} items ({fresh_items} new) "
        f"in {elapsed:.0f} s{speed}",
        file=sys.stderr,
        flush=True,
    )
    return records, rate


# Settings that change speed, not answers: a resumed run may change them and keep its items.
_SPEED_ONLY = ("n_threads", "n_batch", "timeout_s", "api_key")


def _answer_settings(model: ModelSpec) -> dict[str, Any]:
    return {k: v for k, v in to_dict(model).items() if k not in _SPEED_ONLY}


_OFF_BY_DEFAULT = ("retrieval", "grounded", "single_answer", "cited_only", "trained_configs")


def _suite_settings(
    spec: SuiteSpec,
    cfg: Config,
    index: StatuteIndex | None,
    server: served.ServedGrounding | None = None,
) -> dict[str, Any]:
    # The limit picks which items, not how each is answered (subsets are nested).
    # Flags left off are left out, so adding a flag keeps earlier runs' items resumable.
    out = {
        k: v
        for k, v in to_dict(spec).items()
        if k != "limit" and not (k in _OFF_BY_DEFAULT and not v)
    }
    if spec.retrieval:  # the articles in the prompt depend on these
        out["grounded"] = [cfg.retrieval_k, cfg.article_chars, grounding.index_identity(index)]
    elif spec.kind == "case" and index is not None:  # the citation metrics depend on the index
        out["index"] = grounding.index_identity(index)
    if spec.grounded is True and server is not None:  # the server's settings shape the prompt
        out["served"] = [*server.identity(), grounding.index_identity(index)]
    return out


def evaluate_all(cfg: Config) -> Path:
    if not cfg.models:
        raise ConfigError("models: at least one model is needed")
    if not cfg.suites:
        raise ConfigError("suites: at least one suite is needed")
    names = [m.name for m in cfg.models]
    if len(set(names)) != len(names):
        raise ConfigError(f"models: names must be unique, got {names}")
    if cfg.baseline and cfg.baseline not in names:
        raise ConfigError(f"baseline: {cfg.baseline!r} is not one of the models {names}")
    specs = [
        s
        for s in served.expand(list(cfg.suites))
        if not cfg.suite_filter or s.name in cfg.suite_filter
    ]
    if cfg.retrieval_k < 1:
        raise ConfigError(f"retrieval_k: must be at least 1, got {cfg.retrieval_k}")
    index = grounding.open_index(cfg.index_path)
    server = None
    if any(s.grounded is True for s in specs):
        if index is None:
            names = [s.name for s in specs if s.grounded is True]
            raise ConfigError(f"suites {names}: grounded needs index_path (the statute index)")
        server = served.ServedGrounding(index, served.server_settings(cfg.server_config))
    try:
        suites = [prepare_suite(s, cfg, index) for s in specs]
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    for s in suites:
        print(
            f"suite {s.spec.name}: {len(s.items)} items (of {len(s.loaded.items)} usable; "
            f"skipped {s.loaded.skip_counts() or 'none'})",
            file=sys.stderr,
        )
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = PredictionStore(out / "predictions.jsonl", resume=cfg.resume)
    per_model: dict[str, dict[str, Any]] = {}
    described: dict[str, Any] = {}
    try:
        for model in [m for m in cfg.models if not cfg.model_filter or m.name in cfg.model_filter]:
            if cfg.threads:
                model = dataclasses.replace(model, n_threads=cfg.threads)
            backend = make_backend(model)
            described[model.name] = {
                **backend.describe(),
                "supports_loglik": backend.supports_loglik,
            }
            try:
                for suite in suites:
                    sig = signature(
                        _answer_settings(model),
                        described[model.name].get("weights"),
                        _suite_settings(suite.spec, cfg, index, server),
                        cfg.seed,
                    )
                    recs, rate = run_suite(backend, model, suite, store, sig, cfg, index, server)
                    per_model.setdefault(model.name, {})[suite.spec.name] = (recs, rate)
            finally:
                backend.close()
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
        if index is not None:
            index.close()
    results = aggregate(cfg, suites, per_model, described)
    write_reports(cfg, out, results)
    if cfg.write_manifest:
        update_manifests(cfg, out, results)
    return out
