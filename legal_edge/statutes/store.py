"""Where a statute index lives: versioned builds beside a link that names the served one.

``runs/index/statutes`` is a symbolic link to ``runs/index/statutes.versions/<built at>/``. A
build writes a new version directory (named ``….partial`` until it is complete), then replaces
the link in one rename: a server that has the old index open keeps answering from it and opens
the new one when it next starts; an interrupted build leaves the link, and so the served index,
as it was. The previous version stays for ``rollback``; older ones are removed. An index
directory written before versions existed (a plain folder) is moved into the versions the first
time a build replaces it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from legal_edge.statutes.schema import INDEX_FILE

SUFFIX = ".versions"
PARTIAL = ".partial"
# What a plain index folder from before may hold; anything else there means it is not one.
INDEX_FILES = frozenset({INDEX_FILE, "manifest.json", "rejects.jsonl"})


class StoreError(RuntimeError):
    """The index location holds something this module will not replace."""


@dataclass(frozen=True)
class Version:
    path: Path
    current: bool


def versions_dir(link: Path) -> Path:
    """``runs/index/statutes`` -> ``runs/index/statutes.versions``."""
    return link.parent / (link.name + SUFFIX)


def new_version(link: Path) -> Path:
    """An empty directory to build the next version in (``<UTC time>.partial``); partial
    directories left by an interrupted build are removed first (one build at a time)."""
    root = versions_dir(link)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"*{PARTIAL}"):
        shutil.rmtree(stale, ignore_errors=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    out = root / (stamp + PARTIAL)
    out.mkdir()
    return out


def _adopt_plain_folder(link: Path) -> Path | None:
    """Make room for the link where a plain folder stands: an empty one is removed, an index
    folder from before versions is moved into the versions (and returned), anything else is
    refused."""
    if link.is_symlink() or not link.exists():
        return None
    if not link.is_dir():
        raise StoreError(f"{link} exists and is not an index folder; move it away")
    names = {p.name for p in link.iterdir()}
    if not names:
        link.rmdir()
        return None
    if INDEX_FILE not in names or not names <= INDEX_FILES:
        raise StoreError(
            f"{link} holds files other than a statute index ({', '.join(sorted(names))[:200]}); "
            "give another output_dir or move them away"
        )
    when = dt.datetime.fromtimestamp((link / INDEX_FILE).stat().st_mtime, dt.UTC)
    target = versions_dir(link) / (when.strftime("%Y%m%dT%H%M%S.%fZ") + "-before-versions")
    os.replace(link, target)
    return target


def publish(link: Path, partial: Path) -> Path:
    """Make the built ``partial`` directory the served version and return its directory. The
    version served until now stays (for ``rollback``); every other one is removed."""
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    os.replace(partial, final)
    before = served(link) or _adopt_plain_folder(link)
    _point(link, final)
    keep = {final.resolve(), before.resolve() if before else None}
    for v in versions(link):
        if v.path not in keep:
            shutil.rmtree(v.path, ignore_errors=True)
    return final


def _point(link: Path, target: Path) -> None:
    """Replace ``link`` by a relative link to ``target`` in one rename."""
    tmp = link.with_name(f".{link.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


def served(link: Path) -> Path | None:
    """The version directory ``link`` names now (None: no link there)."""
    return link.resolve() if link.is_symlink() and link.exists() else None


def versions(link: Path) -> list[Version]:
    """The complete versions beside ``link``, oldest first."""
    root = versions_dir(link)
    if not root.is_dir():
        return []
    current = served(link)
    done = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(PARTIAL))
    return [Version(p.resolve(), p.resolve() == current) for p in done]


def rollback(link: Path) -> Path:
    """Serve the version before the current one again; return its directory."""
    done = versions(link)
    at = next((i for i, v in enumerate(done) if v.current), None)
    if at is None:
        raise StoreError(f"{link} is not a link to a version in {versions_dir(link)}")
    if at == 0:
        raise StoreError(f"no version older than {done[at].path.name} to roll back to")
    _point(link, done[at - 1].path)
    return done[at - 1].path
