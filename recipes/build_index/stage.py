"""build-index: statute corpora -> a new version of ``index.sqlite3`` + ``manifest.json`` +
``rejects.jsonl``, made the served one in one rename (``legal_edge.statutes.store``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, atomic_write_text, sha256_file
from legal_edge.statutes import store
from legal_edge.statutes.schema import INDEX_FILE, SCHEMA_VERSION
from legal_edge.statutes.tokens import TOKENIZERS
from recipes.shared.manifest import library_versions
from recipes.shared.paths import resolve_path

from .calibrate import calibrate
from .citegraph import cite_counts
from .config import Config, IndexBuildError
from .expansion import read_expansion
from .lawdb import apply_source_status
from .progress import Phases
from .reader import ParsedFile, statute_files
from .sources import Source, merge, read_sources
from .versions import assign_status
from .writer import bm25_postings, head_text, set_meta, write_index

# Bump when the same inputs would give another index (reader, ranking, calibration changes).
BUILD_FORMAT = 1


def _terms(args: tuple[str, list[str]]) -> list[list[str]]:
    name, texts = args
    cut = TOKENIZERS[name]
    return [cut(t) for t in texts]


def _tokenize(name: str, texts: list[str], workers: int, bar: Any = None) -> list[list[str]]:
    """Terms of each text; jieba is pure Python, so tokenizing runs in ``workers`` processes."""
    size = max(1, min(2000, len(texts) // (max(workers, 1) * 8)))
    chunks = [(name, texts[i : i + size]) for i in range(0, len(texts), size)]
    out: list[list[str]] = []
    if workers <= 1:
        parts = map(_terms, chunks)
        for part in parts:
            out += part
            if bar is not None:
                bar.update(len(part))
        return out
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(_terms, chunks):
            out += part
            if bar is not None:
                bar.update(len(part))
    return out


def documents(cfg: Config, rows: list[dict], bar: Any = None) -> list[list[str]]:
    """What BM25 sees per article: the head's terms ``head_repeat`` times, then the text's."""
    heads = sorted({head_text(r) for r in rows})
    head_terms = dict(zip(heads, _tokenize(cfg.tokenizer, heads, 1), strict=True))
    bodies = _tokenize(cfg.tokenizer, [r["text"] for r in rows], cfg.workers, bar)
    return [
        head_terms[head_text(r)] * cfg.head_repeat + body
        for r, body in zip(rows, bodies, strict=True)
    ]


def fingerprint(cfg: Config) -> str:
    """Changes when the inputs or the settings that shape the index change (not output_dir,
    workers or the cache folder); a pinned package counts by its pinned hash, not downloaded."""
    parts: list[Any] = [BUILD_FORMAT, SCHEMA_VERSION]
    settings = {k: str(v) for k, v in sorted(cfg.__dict__.items())}
    for k in ("output_dir", "skip_if_current", "workers", "package_cache"):
        settings.pop(k)
    parts.append(settings)
    if cfg.database is not None and resolve_path(cfg.database).is_file():
        parts.append(sha256_file(resolve_path(cfg.database)))
    parts += [sha256_file(resolve_path(p)) for p in cfg.snapshots if resolve_path(p).is_file()]
    exp_path = _expansion_path(cfg)
    if exp_path is not None:
        parts.append(sha256_file(exp_path))
    if cfg.statutes_dir is not None and resolve_path(cfg.statutes_dir).is_dir():
        root = resolve_path(cfg.statutes_dir)
        files = statute_files(root, cfg.exclude, cfg.limit_files)
        parts += [(p.relative_to(root).as_posix(), sha256_file(p)) for p in files]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]


def _expansion_path(cfg: Config) -> Path | None:
    """The expansion file the build reads: the configured one when it exists (an office's own
    build may have none), else None."""
    if cfg.expansion is None:
        return None
    path = resolve_path(cfg.expansion)
    return path if path.is_file() else None


def _current_fingerprint(link: Path) -> str | None:
    try:
        return json.loads((link / "manifest.json").read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return None


def books(sources: list[Source], rows: list[dict], built_at: str) -> dict[str, Any]:
    """What the index holds, per source and in all: what ``legal-edge statutes status`` shows."""

    def summary(mine: list[dict]) -> dict[str, Any]:
        now = [r for r in mine if r["status"] == "in_force"]
        return {
            "laws": len({r["law"] for r in now}),
            "articles": len(mine),
            "in_force": len(now),
            "newest_version": max((r["version"] for r in now), default=""),
        }

    by_source: dict[str, list[dict]] = {s.name: [] for s in sources}
    for r in rows:
        by_source[r["source"]].append(r)
    return {
        "built_at": built_at,
        **summary(rows),
        "sources": [{**s.describe(), **summary(by_source[s.name])} for s in sources],
    }


def _build(cfg: Config, phases: Phases) -> tuple[list[Source], list[ParsedFile], list[dict], int]:
    """The sources read and merged: their files, the article rows, how many laws have versions."""
    with phases("reading sources"):
        sources = read_sources(cfg)
    with phases("versions, status and citation counts"):
        files = merge(sources)
        multi = assign_status(files)["laws_with_versions"]
        apply_source_status(files)
        rows = [r for f in files for r in f.rows]
        cite_counts(rows)
    if not rows:
        raise IndexBuildError(f"no article found in {', '.join(s.name for s in sources)}")
    return sources, files, rows, multi


def run(cfg: Config) -> Path:
    """Index every article of the configured sources; return the served index file's path."""
    out = Path(cfg.output_dir).expanduser()
    link = resolve_path(out.parent) / out.name  # the link itself, not the version it names
    phases = Phases()
    print_ = (lambda msg: print(msg, file=sys.stderr)) if phases.enabled else (lambda msg: None)
    fp = fingerprint(cfg)
    if cfg.skip_if_current and (link / INDEX_FILE).is_file() and _current_fingerprint(link) == fp:
        print_(f"  statute index {link} is current (same sources and settings): kept")
        return link / INDEX_FILE
    sources, files, rows, multi = _build(cfg, phases)
    with phases("tokenizing", total=len(rows), unit="articles") as bar:
        docs = documents(cfg, rows, bar)
    with phases("BM25 scores"):
        postings = bm25_postings(docs, cfg.k1, cfg.b)
    del docs
    exp_path = _expansion_path(cfg)
    expansion = read_expansion(exp_path) if exp_path is not None else None
    partial = store.new_version(link)
    try:
        with phases("writing the index"):
            meta = {"tokenizer": cfg.tokenizer, "k1": str(cfg.k1), "b": str(cfg.b)}
            index = write_index(partial, rows, postings, meta, expansion)
        with phases("calibrating the relevance floor"):
            calibration = calibrate(index)
        built_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        summary = books(sources, rows, built_at)
        summary["min_score"] = calibration.min_score
        set_meta(index, {"min_score": str(calibration.min_score), "books": json.dumps(summary)})
        problems = [p for f in files for p in f.problems]
        atomic_write_text(
            partial / "rejects.jsonl",
            "".join(json.dumps(p.__dict__, ensure_ascii=False) + "\n" for p in problems),
        )
        manifest = {
            "stage": "build-index",
            "fingerprint": fp,
            "config": {k: _plain(v) for k, v in cfg.__dict__.items()},
            "sources": summary["sources"],
            "inputs": [{"source": s.name, **i} for s in sources for i in s.inputs],
            "expansion": (
                {
                    "path": exp_path.name,
                    "sha256": sha256_file(exp_path),
                    "source": expansion["source"],
                }
                if expansion is not None and exp_path is not None
                else None
            ),
            "index": {"path": INDEX_FILE, "sha256": sha256_file(index)},
            "books": {k: v for k, v in summary.items() if k != "sources"},
            "calibration": calibration.to_dict(),
            "counts": {
                "files": len(files),
                "articles": len(rows),
                "in_force": sum(r["status"] == "in_force" for r in rows),
                "superseded": sum(r["status"] == "superseded" for r in rows),
                "laws": len({f.title for f in files if f.rows}),
                "laws_with_versions": multi,
                "problems": len(problems),
                "articles_dropped": sum(not p.kept for p in problems),
            },
            "seconds": {**phases.seconds, "total": phases.total()},
            "versions": library_versions(("jieba", "bm25s", "numpy")),
        }
        atomic_write_json(partial / "manifest.json", manifest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    version = store.publish(link, partial)
    print_(f"  served: {link} -> {version.name} ({phases.total():.1f} s in all)")
    return link / INDEX_FILE


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
