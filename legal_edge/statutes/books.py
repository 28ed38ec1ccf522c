"""What the statute books are: which index a model grounds in, and what that index holds.

The server (``GET /v1/statutes``, ``/v1/models``, ``/health/ready``) and ``legal-edge statutes``
find the index the same way (``index_path``) and describe it the same way (``describe``), from
the summary build-index stores in the index itself (``meta.books``: sources with versions and
licences, laws and articles in force, newest version date, build time, relevance floor).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from legal_edge.models.manifest import ModelManifest
from legal_edge.settings.server import Settings
from legal_edge.statutes.index import IndexError_, SearchParams, StatuteIndex

# Where an index built before floors were calibrated per index has none: the floor chosen on
# the LawRefBook index (docs/measurements/2026-11-30-grounding.md).
FALLBACK_MIN_SCORE = 7.5


def index_path(settings: Settings, manifest: ModelManifest) -> tuple[Path | None, str]:
    """The index ``manifest``'s model grounds in under ``settings``, or (None, why not).

    The setting ``statutes_index`` wins over the manifest's (an office's own index); a relative
    manifest path is relative to the models directory."""
    if settings.grounding == "off":
        return None, "grounding: off"
    named = manifest.statutes_index
    if named is None and settings.grounding == "auto":
        return None, "its manifest names no statute index (grounding: auto)"
    if settings.statutes_index is not None:
        return Path(settings.statutes_index), ""
    if named is None:
        return None, "grounding: on, but no statutes_index is set"
    path = Path(named).expanduser()
    return (path if path.is_absolute() else Path(settings.models_dir) / path), ""


def open_index(path: Path, params: SearchParams | None = None) -> StatuteIndex:
    """``StatuteIndex(path, params)``, with a file SQLite cannot read reported as IndexError_."""
    try:
        return StatuteIndex(path, params)
    except sqlite3.DatabaseError as exc:
        raise IndexError_(f"{path} is not a readable statute index: {exc}") from None


def min_score(index: StatuteIndex, setting: float | None) -> float:
    """The relevance floor: the setting when given, else the index's own, else the fallback."""
    if setting is not None:
        return setting
    own = index.min_score
    return own if own is not None else FALLBACK_MIN_SCORE


def describe(index: StatuteIndex) -> dict[str, Any]:
    """The index's summary: path, served version, build time, sources, counts, floor."""
    try:
        summary = json.loads(index.meta.get("books", "{}"))
    except ValueError:
        summary = {}
    if not summary:  # built before summaries were stored: count what the file holds
        summary = _counted(index)
    summary.setdefault("min_score", index.min_score)
    return {
        "index": os.path.normpath(index.path.parent),  # models/../runs/... -> runs/...
        "version": index.path.resolve().parent.name,
        **summary,
    }


def _counted(index: StatuteIndex) -> dict[str, Any]:
    con = sqlite3.connect(f"{index.path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        laws, articles, in_force, newest = con.execute(
            "SELECT COUNT(DISTINCT CASE WHEN status = 'in_force' THEN law END), COUNT(*), "
            "SUM(status = 'in_force'), MAX(CASE WHEN status = 'in_force' THEN version END) "
            "FROM articles"
        ).fetchone()
    finally:
        con.close()
    return {
        "built_at": None,
        "laws": laws,
        "articles": articles,
        "in_force": in_force or 0,
        "newest_version": newest or "",
        "sources": [],
    }


def status_text(info: dict[str, Any]) -> str:
    """``legal-edge statutes status``'s report."""
    lines = [
        f"statute index  {info['index']}  (version {info['version']}, built {info['built_at']})",
        f"  laws in force {info['laws']:,}, articles {info['articles']:,} "
        f"({info['in_force']:,} in force), newest version {info['newest_version'] or '?'}",
        f"  relevance floor {info.get('min_score')}",
    ]
    for s in info.get("sources", []):
        version = f" {s['version']}" if s.get("version") else ""
        lines.append(
            f"  - {s['name']} ({s['kind']}{version}, {s['licence']}): laws in force "
            f"{s['laws']:,}, articles {s['articles']:,} ({s['in_force']:,} in force), "
            f"newest {s['newest_version'] or '?'}"
        )
    return "\n".join(lines)
