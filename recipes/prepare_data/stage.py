"""Prepare training/validation sets from raw legal data.

``legal-recipes prepare-data --config recipes/configs/data/legal_zh.yaml [--set key=value ...]``

Raw files -> records (readers) -> licence/source control -> PII redaction -> quality filters ->
exact + near-duplicate removal -> statute synthesis -> decontamination -> leak-free split. Writes
``train.jsonl``, ``val.jsonl``, ``rejected.jsonl`` (every dropped row with its rule and
``file:line``), ``report.md``/``report.html``, ``manifest.json`` and a LLaMA-Factory
``dataset_info.json`` into ``output_dir``.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.prepare_data import checkpoint
from recipes.prepare_data.config import Config, SourceConfig, validate
from recipes.prepare_data.decontam import Decontaminator
from recipes.prepare_data.dedup import deduplicate
from recipes.prepare_data.filters import Filters
from recipes.prepare_data.formats import CASE_INSTRUCTION, MCQ_MULTI, MCQ_SINGLE
from recipes.prepare_data.pii import Redactor
from recipes.prepare_data.readers import Reader
from recipes.prepare_data.records import Rejection, full_text, map_text
from recipes.prepare_data.report import write_outputs
from recipes.prepare_data.split import split_records
from recipes.prepare_data.statutes import superseded
from recipes.prepare_data.synthesis import synthesize

__all__ = ["Config", "SourceConfig", "run"]
TEMPLATE_HEADERS = (MCQ_SINGLE, MCQ_MULTI, CASE_INSTRUCTION)


@dataclass
class StepTiming:
    name: str
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class RunState:
    """Everything the report and manifest describe."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    timings: list[StepTiming] = field(default_factory=list)
    read_counts: Counter[str] = field(default_factory=Counter)  # source name -> rows read
    input_files: list[Path] = field(default_factory=list)
    decoded_as: dict[str, str] = field(default_factory=dict)
    pii_counts: Counter[str] = field(default_factory=Counter)
    synthesis: Counter[str] = field(default_factory=Counter)
    dedup: dict[str, int] = field(default_factory=dict)
    decontam: Counter[str] = field(default_factory=Counter)
    eval_files: dict[str, int] = field(default_factory=dict)


class _Step:
    def __init__(self, state: RunState, name: str, profile: bool) -> None:
        self.state, self.name, self.profile = state, name, profile
        self.records = 0

    def __enter__(self) -> _Step:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        t = StepTiming(self.name, self.records, time.perf_counter() - self.t0)
        self.state.timings.append(t)
        if self.profile:
            print(
                f"[profile] {t.name:<12} {t.records:>8} records {t.seconds:7.2f} s "
                f"{t.rate:10.0f} records/s",
                file=sys.stderr,
            )


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="rec", disable=None, leave=False, file=sys.stderr)


def _dedup_text(rec: dict[str, Any]) -> str:
    if rec.get("instruction") in TEMPLATE_HEADERS:  # the shared header would inflate similarity
        return f"{rec.get('input', '')}\n{rec.get('output', '')}"
    return full_text(rec)


def _allowed(rec: dict[str, Any], cfg: Config) -> tuple[str, str] | None:
    if cfg.allow_licenses and rec["license"] not in cfg.allow_licenses:
        return "license_excluded", f"licence {rec['license']!r} not in allow_licenses"
    for ex in cfg.exclude_sources:
        if (
            rec["source"] == ex
            or rec["source"].startswith(ex.rstrip("/") + "/")
            or rec["id"].startswith(ex + "/")
        ):
            return "source_excluded", f"source {rec['source']!r} matches exclude_sources {ex!r}"
    return None


def _read(cfg: Config, state: RunState) -> None:
    for src in cfg.sources:
        if not src.enabled:
            continue
        reader = Reader(src, cfg.data_root)
        with _progress(None, f"read {src.name}") as bar:
            for item in reader:
                state.read_counts[src.name] += 1
                if isinstance(item, Rejection):
                    state.rejected.append(item)
                else:
                    state.records.append(item)
                bar.update(1)
        state.input_files.extend(reader.stats.files)
        state.decoded_as.update(reader.stats.decoded_as)


def _reject(
    state: RunState, rec: dict[str, Any], rule: str, reason: str, dup: str = "", body: bool = True
) -> None:
    """Record a dropped record; ``body=False`` keeps only id and origin (sampled-out records)."""
    state.rejected.append(
        Rejection(
            rule,
            reason,
            rec["_origin"],
            rec["source"],
            rec["id"],
            rec if body else None,
            dup,
            rec["license"],
        )
    )


def run(cfg: Config) -> Path:
    """Prepare the configured sources into ``output_dir``; returns the output directory."""
    validate(cfg)
    decon = Decontaminator(cfg.decontam, cfg.data_root, TEMPLATE_HEADERS)  # fail early on bad files
    t_start = time.perf_counter()
    key = checkpoint.checkpoint_key(cfg) if cfg.resume else ""
    state = checkpoint.load(cfg, key) if cfg.resume else None
    if state is None:
        state = _clean(cfg)
        if cfg.resume:
            checkpoint.save(cfg, key, state)
    else:
        print(
            f"prepare-data: resuming from {cfg.output_dir}/.checkpoint (cleaned records)",
            file=sys.stderr,
        )
    state.eval_files = dict(decon.items_per_file)
    return _finish(cfg, state, decon, t_start)


def _clean(cfg: Config) -> RunState:
    """Read, select, redact, filter and deduplicate: the slow half, checkpointed for resume."""
    state = RunState()
    with _Step(state, "read", cfg.profile) as step:
        _read(cfg, state)
        step.records = len(state.records) + len(state.rejected)

    with _Step(state, "select+pii", cfg.profile) as step:
        step.records = len(state.records)
        redact = Redactor(cfg.pii)
        old = superseded(state.records) if cfg.statutes_latest_only else {}
        kept = []
        for i, rec in enumerate(state.records):
            why = ("superseded_version", old[i]) if i in old else _allowed(rec, cfg)
            if why:
                _reject(state, rec, *why)
                continue
            if rec.pop("_pii", False) and cfg.pii.enabled:
                map_text(rec, redact)
            kept.append(rec)
        state.records = kept
        state.pii_counts = redact.counts

    filters = Filters(cfg.filters)
    with _Step(state, "filter", cfg.profile) as step:
        step.records = len(state.records)
        state.records = _apply_filters(state, state.records, filters)

    with _Step(state, "dedup", cfg.profile) as step:
        recs = state.records
        step.records = len(recs)
        with _progress(len(recs), "near-dup") as bar:
            res = deduplicate(
                [_dedup_text(r) for r in recs],
                [r["category"] for r in recs],
                cfg.dedup,
                answers=[
                    r["output"].split("\n", 1)[0] if r["category"] == "exam_mcq" else ""
                    for r in recs
                ],
                progress=bar.update,
            )
        kept = []
        for i, rec in enumerate(recs):
            if i in res.duplicate_of:
                j, rule, sim = res.duplicate_of[i]
                _reject(
                    state, rec, rule, f"similarity {sim:.2f} with {recs[j]['id']}", recs[j]["id"]
                )
            else:
                rec["_group"] = recs[res.group[i]]["id"]
                kept.append(rec)
        state.records = kept
        state.dedup = {
            "candidate_pairs": res.candidate_pairs,
            "number_trap_saves": res.number_trap_saves,
            "groups": len({r["_group"] for r in kept}),
        }

    return state


def _finish(cfg: Config, state: RunState, decon: Decontaminator, t_start: float) -> Path:
    """Synthesize, decontaminate, cap, split and write."""
    filters = Filters(cfg.filters)
    if cfg.synthesis.enabled:
        with _Step(state, "synthesis", cfg.profile) as step:
            made, state.synthesis = synthesize(state.records, cfg.synthesis)
            groups = {r["id"]: r["_group"] for r in state.records}
            for rec in made:
                rec["_group"] = groups[rec["_parent"]]
            state.records.extend(_apply_filters(state, made, filters))
            step.records = len(made)

    with _Step(state, "decontam", cfg.profile) as step:
        step.records = len(state.records)
        kept = []
        for rec in state.records:
            hit = decon.check(rec)
            if hit:
                state.decontam[hit[0]] += 1
                _reject(state, rec, "contaminated", f"{hit[1]:.0%} of prompt n-grams in {hit[0]}")
            else:
                kept.append(rec)
        state.records = kept

    if cfg.max_per_category:
        with _Step(state, "caps", cfg.profile) as step:
            step.records = len(state.records)
            state.records = _apply_caps(state, cfg)

    with _Step(state, "split", cfg.profile) as step:
        step.records = len(state.records)
        train_idx, val_idx = split_records(
            state.records, [r["_group"] for r in state.records], cfg.split
        )

    with _Step(state, "write", cfg.profile) as step:
        step.records = len(state.records)
        train = [state.records[i] for i in train_idx]
        val = [state.records[i] for i in val_idx]
        out = write_outputs(cfg, state, train, val, time.perf_counter() - t_start)
    total = time.perf_counter() - t_start
    rules = Counter(r.rule for r in state.rejected).most_common(4)
    print(
        f"prepare-data: {len(train)} train, {len(val)} val, {len(state.rejected)} rejected "
        f"({', '.join(f'{k} {v}' for k, v in rules)}) in {total:.0f} s; see {out / 'report.md'}",
        file=sys.stderr,
    )
    return out


def _apply_filters(
    state: RunState, recs: list[dict[str, Any]], filters: Filters
) -> list[dict[str, Any]]:
    kept = []
    for rec in recs:
        why = filters.check(rec)
        if why:
            _reject(state, rec, *why)
        else:
            kept.append(rec)
    return kept


def _apply_caps(state: RunState, cfg: Config) -> list[dict[str, Any]]:
    """At most ``max_per_category[c]`` records of category ``c``, chosen by a seeded hash."""

    def rank(rec: dict[str, Any]) -> str:
        return hashlib.blake2b(f"{cfg.cap_seed}:{rec['id']}".encode(), digest_size=8).hexdigest()

    drop: set[int] = set()
    for cat, cap in cfg.max_per_category.items():
        members = [i for i, r in enumerate(state.records) if r["category"] == cat]
        if len(members) > cap:
            drop.update(sorted(members, key=lambda i: rank(state.records[i]))[cap:])
    kept = []
    for i, rec in enumerate(state.records):
        if i in drop:
            cap = cfg.max_per_category[rec["category"]]
            why = f"{rec['category']} capped at {cap} records (sampled out; text not repeated)"
            _reject(state, rec, "category_cap", why, body=False)
        else:
            kept.append(rec)
    return kept
