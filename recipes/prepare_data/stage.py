"""Prepare training/validation sets from raw legal data.

``legal-recipes prepare-data --config recipes/configs/data/legal_zh.yaml [--set key=value ...]``

Raw files -> records (readers) -> licence/source control -> PII redaction -> quality filters ->
exact + near-duplicate removal -> statute synthesis -> decontamination -> leak-free split. Writes
``train.jsonl``, ``val.jsonl``, ``rejected.jsonl`` (every dropped row with its rule and
``file:line``), ``report.md``/``report.html``, ``manifest.json`` and a LLaMA-Factory
``dataset_info.json`` into ``output_dir``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from recipes.shared.progress import progress_bar
from recipes.shared.records import Rejection, map_text, prompt_text
from recipes.shared.statutes import superseded

from . import checkpoint
from .config import Config, validate
from .decontam import Decontaminator
from .dedup import deduplicate
from .filters import Filters
from .grounded import ground
from .mix import held_out, is_crime_related, letter_distribution, load_holdout, shuffle_mcq
from .outputs import write_outputs
from .pii import Redactor
from .readers import Reader
from .selection import TEMPLATE_HEADERS, apply_caps, apply_filters, dedup_text, not_allowed
from .split import split_records
from .state import RunState, Step
from .synthesis import synthesize


def _read(cfg: Config, state: RunState) -> None:
    for src in cfg.sources:
        if not src.enabled:
            continue
        reader = Reader(src, cfg.data_root)
        with progress_bar(None, f"read {src.name}", unit="rec") as bar:
            for item in reader:
                state.read_counts[src.name] += 1
                if isinstance(item, Rejection):
                    state.rejected.append(item)
                else:
                    state.records.append(item)
                bar.update(1)
        state.input_files.extend(reader.stats.files)
        state.decoded_as.update(reader.stats.decoded_as)


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
    with Step(state, "read", cfg.profile) as step:
        _read(cfg, state)
        step.records = len(state.records) + len(state.rejected)

    with Step(state, "select+pii", cfg.profile) as step:
        step.records = len(state.records)
        redact = Redactor(cfg.pii)
        old = superseded(state.records) if cfg.statutes_latest_only else {}
        kept = []
        for i, rec in enumerate(state.records):
            why = ("superseded_version", old[i]) if i in old else not_allowed(rec, cfg)
            if why:
                state.reject(rec, *why)
                continue
            if rec.pop("_pii", False) and cfg.pii.enabled:
                map_text(rec, redact)
            kept.append(rec)
        state.records = kept
        state.pii_counts = redact.counts

    filters = Filters(cfg.filters)
    with Step(state, "filter", cfg.profile) as step:
        step.records = len(state.records)
        state.records = apply_filters(state, state.records, filters)

    with Step(state, "dedup", cfg.profile) as step:
        recs = state.records
        step.records = len(recs)
        with progress_bar(len(recs), "near-dup", unit="rec") as bar:
            res = deduplicate(
                [dedup_text(r) for r in recs],
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
                state.reject(rec, rule, f"similarity {sim:.2f} with {recs[j]['id']}", recs[j]["id"])
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


def _mix(cfg: Config, state: RunState) -> None:
    """Held-out prompts out, crime consultations their own category, grounded records."""
    mix = state.mix
    prompts = load_holdout(tuple(cfg.holdout_prompt_files))
    kept = []
    for rec in state.records:
        hit = held_out(rec, prompts) if prompts else None
        if hit:
            state.reject(rec, "held_out_prompt", f"asks a held-out prompt ({hit[:30]})")
            continue
        if (
            cfg.crime_category
            and rec["category"] == "consultation"
            and is_crime_related(prompt_text(rec))
        ):
            rec["category"] = cfg.crime_category
        kept.append(rec)
    mix["held_out"] = len(state.records) - len(kept)
    mix["crime_related"] = sum(r["category"] == cfg.crime_category for r in kept)
    state.records = kept
    if cfg.grounding.enabled:
        state.records, dropped, mix["grounding"] = ground(cfg.grounding, state.records)
        for rec, why in dropped:
            state.reject(rec, "unresolved_citations", why)


def _finish(cfg: Config, state: RunState, decon: Decontaminator, t_start: float) -> Path:
    """Synthesize, decontaminate, cap, split and write."""
    filters = Filters(cfg.filters)
    if cfg.synthesis.enabled:
        with Step(state, "synthesis", cfg.profile) as step:
            made, state.synthesis = synthesize(state.records, cfg.synthesis)
            groups = {r["id"]: r["_group"] for r in state.records}
            for rec in made:
                rec["_group"] = groups[rec["_parent"]]
            state.records.extend(apply_filters(state, made, filters))
            step.records = len(made)

    with Step(state, "decontam", cfg.profile) as step:
        step.records = len(state.records)
        kept = []
        with progress_bar(len(state.records), "decontam", unit="rec") as bar:
            for rec in state.records:
                hit = decon.check(rec)
                if hit:
                    state.decontam[hit[0]] += 1
                    state.reject(rec, "contaminated", f"{hit[1]:.0%} of prompt n-grams in {hit[0]}")
                else:
                    kept.append(rec)
                bar.update(1)
        state.records = kept

    with Step(state, "mix", cfg.profile) as step:
        step.records = len(state.records)
        _mix(cfg, state)

    if cfg.max_per_category:
        with Step(state, "caps", cfg.profile) as step:
            step.records = len(state.records)
            state.records = apply_caps(state, cfg)

    with Step(state, "split", cfg.profile) as step:
        step.records = len(state.records)
        train_idx, val_idx = split_records(
            state.records, [r["_group"] for r in state.records], cfg.split
        )

    with Step(state, "write", cfg.profile) as step:
        step.records = len(state.records)
        train = [state.records[i] for i in train_idx]
        val = [state.records[i] for i in val_idx]
        if cfg.shuffle_mcq:
            shuffled = sum(shuffle_mcq(r, cfg.mcq_seed) for r in train + val)
            state.mix["mcq_shuffled"] = shuffled
        state.mix["train_mcq_letters"] = letter_distribution(train)
        out = write_outputs(cfg, state, train, val, time.perf_counter() - t_start)
    total = time.perf_counter() - t_start
    rules = Counter(r.rule for r in state.rejected).most_common(4)
    print(
        f"prepare-data: {len(train)} train, {len(val)} val, {len(state.rejected)} rejected "
        f"({', '.join(f'{k} {v}' for k, v in rules)}) in {total:.0f} s; see {out / 'report.md'}",
        file=sys.stderr,
    )
    return out
