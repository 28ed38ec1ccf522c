"""A suite prepared once for every model: its items (a seeded sample), few-shot examples and the
baselines a guesser would score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from legal_edge.settings.loader import ConfigError
from legal_edge.statutes.index import StatuteIndex
from recipes.evaluate import crime, general, grounding, mcq
from recipes.evaluate.config import Config, SuiteSpec
from recipes.evaluate.items import (
    Item,
    Loaded,
    Skipped,
    load_cases,
    load_mcq_jsonl,
    load_safety,
    sample,
)
from recipes.shared.paths import resolve_path

DEFAULT_MAX_TOKENS = {"mcq": 6, "general": 6, "case": 256, "safety": 64, "crime_questions": 160}


@dataclass
class PreparedSuite:
    spec: SuiteSpec
    items: list[Item]
    loaded: Loaded
    shots: dict[str, list[Item]] = field(default_factory=dict)  # by answer kind or by subject
    baselines: dict[str, Any] = field(default_factory=dict)
    # per item id: [gold articles retrieved, gold articles] (items with a reference, given an index)
    retrieval: dict[str, list[float]] = field(default_factory=dict)

    @property
    def max_tokens(self) -> int:
        return self.spec.max_tokens or DEFAULT_MAX_TOKENS[self.spec.kind]

    def shots_for(self, item: Item) -> list[Item]:
        if self.spec.kind == "general":
            return self.shots.get(item.groups.get("subject", ""), [])
        return self.shots.get(item.data["kind"], [])


def dedupe_ids(items: list[Item]) -> None:
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            it.id = f"{it.id}#{it.where.rsplit(':', 1)[-1]}"
        seen.add(it.id)


def _only(loaded: Loaded, keep: Any, reason: str) -> None:
    """Leave out the rows ``keep`` rejects, counted under ``reason`` (a suite's own filter)."""
    out = [it for it in loaded.items if not keep(it)]
    loaded.items = [it for it in loaded.items if keep(it)]
    loaded.skipped += [Skipped(it.where, reason) for it in out]


def ground(suite: PreparedSuite, index: StatuteIndex, k: int) -> None:
    """Retrieve each item's articles once for every model: into the prompt when the suite has
    ``retrieval``, and scored against the reference's articles (recall@k) whenever it has one."""
    for it in suite.items:
        if "prompt" in it.data:  # case
            query = it.data["prompt"]
        else:
            query = grounding.mcq_query(it.data["question"], it.data["options"])
        articles = grounding.retrieve(index, query, k)
        if suite.spec.retrieval:
            it.data["articles"] = articles
        if "reference" in it.data:
            suite.retrieval[it.id] = grounding.retrieval_counts(
                index, articles, it.data["reference"]
            )


def prepare_suite(spec: SuiteSpec, cfg: Config, index: StatuteIndex | None = None) -> PreparedSuite:
    path = resolve_path(spec.path)
    limit = spec.limit if cfg.limit is None else min(spec.limit or cfg.limit, cfg.limit)
    pool: list[Item] = []
    if spec.kind == "mcq":
        loaded = load_mcq_jsonl(path)
        pool = (
            load_mcq_jsonl(resolve_path(spec.few_shot_path)).items
            if spec.few_shot_path
            else loaded.items
        )
    elif spec.kind == "general":
        loaded, pool = general.load_general(path, spec.subjects)
    elif spec.kind == "case":
        loaded = load_cases(path)
    elif spec.kind == "crime_questions":
        loaded = crime.load_crime_questions(path, spec.trained_configs, spec.subjects, spec.name)
    else:
        loaded = load_safety(path, spec.expect)
    if spec.single_answer:
        _only(loaded, lambda it: it.data.get("kind") == "single", "not single-answer")
    if spec.cited_only:
        if index is None:
            raise ConfigError(f"suites.{spec.name}.cited_only: needs index_path")
        _only(
            loaded,
            lambda it: bool(grounding.cited_articles(index, it.data.get("reference", ""))),
            "reference cites no article",
        )
    dedupe_ids(loaded.items)
    suite = PreparedSuite(spec, [], loaded)
    shot_ids: set[str] = set()
    if spec.kind == "mcq":
        # Shots first (from the pool), then the scored sample from the rest: the shots do not
        # depend on the limit, so a run with another limit reuses every finished item.
        suite.shots = mcq.pick_shots(pool, spec.shots, cfg.seed, set())
        if not spec.few_shot_path:
            shot_ids = {it.id for shots in suite.shots.values() for it in shots}
    elif spec.kind == "general" and spec.shots:
        by_subject: dict[str, list[Item]] = {}
        for it in pool:
            by_subject.setdefault(it.groups.get("subject", ""), []).append(it)
        suite.shots = {s: v[: spec.shots] for s, v in by_subject.items()}
    suite.items = sample([it for it in loaded.items if it.id not in shot_ids], limit, cfg.seed)
    if spec.kind in ("mcq", "general"):
        suite.baselines = mcq.baselines(suite.items)
    if spec.retrieval and spec.kind in ("safety", "crime_questions"):
        raise ConfigError(
            f"suites.{spec.name}.retrieval: only mcq, general and case suites "
            "(safety and crime_questions: grounded: true|both, the server's own grounding)"
        )
    if spec.retrieval and index is None:
        raise ConfigError(f"suites.{spec.name}.retrieval: needs index_path (the statute index)")
    if index is not None and (spec.retrieval or spec.kind == "case"):
        ground(suite, index, cfg.retrieval_k)
    return suite
