"""Which records stay: licence and source selection, quality filters, per-category caps.

Each function moves the records it drops into ``state.rejected`` with the rule that dropped them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from recipes.shared.prompt_formats import MCQ_MULTI, MCQ_SINGLE
from recipes.shared.records import full_text

from .config import Config
from .filters import Filters
from .formats import CASE_INSTRUCTION
from .state import RunState

TEMPLATE_HEADERS = (MCQ_SINGLE, MCQ_MULTI, CASE_INSTRUCTION)


def dedup_text(rec: dict[str, Any]) -> str:
    """The text near-dup compares: without a shared template header, which would inflate
    similarity between unrelated questions."""
    if rec.get("instruction") in TEMPLATE_HEADERS:
        return f"{rec.get('input', '')}\n{rec.get('output', '')}"
    return full_text(rec)


def not_allowed(rec: dict[str, Any], cfg: Config) -> tuple[str, str] | None:
    """(rule, reason) when the record's licence or source is excluded by the config."""
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


def apply_filters(
    state: RunState, recs: list[dict[str, Any]], filters: Filters
) -> list[dict[str, Any]]:
    kept = []
    for rec in recs:
        why = filters.check(rec)
        if why:
            state.reject(rec, *why)
        else:
            kept.append(rec)
    return kept


def apply_caps(state: RunState, cfg: Config) -> list[dict[str, Any]]:
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
            state.reject(rec, "category_cap", why, body=False)
        else:
            kept.append(rec)
    return kept
