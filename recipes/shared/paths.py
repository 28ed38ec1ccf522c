"""How a path from a config becomes a file on disk."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def resolve_path(p: str | Path) -> Path:
    """A config path: absolute, or relative to the working directory, else to the repo root."""
    path = Path(p).expanduser()
    if path.is_absolute() or path.exists() or not (REPO / path).exists():
        return path.resolve() if path.exists() else path
    return REPO / path


def resolve_under(root: Path, p: str | Path) -> Path:
    """``p`` if absolute, else ``root / p`` (a source path under a data root)."""
    path = Path(p).expanduser()
    return path if path.is_absolute() else root / path


def relative_to_manifest(path: Path, directory: Path) -> str:
    """``path`` as a manifest in ``directory`` records it: relative, so the manifest names no
    path of the machine that wrote it (``../gemma3-270m/x.gguf``)."""
    return os.path.relpath(Path(path).resolve(), Path(directory).resolve())


def resolve_from_manifest(directory: Path, value: str | Path) -> Path:
    """A path a manifest in ``directory`` recorded (relative, or absolute in older manifests)."""
    return (Path(directory) / Path(value).expanduser()).resolve()


def remove_stale_temps(folder: Path) -> int:
    """Delete the ``.name.XXXX.tmp`` files that atomic writes killed midway left under
    ``folder`` (never read, but an F16 GGUF's is 0.5 GB); how many. A stage calls it on its own
    output folder, which one run at a time writes."""
    removed = 0
    for p in Path(folder).rglob(".*.tmp") if Path(folder).is_dir() else ():
        if p.is_file():
            p.unlink(missing_ok=True)
            removed += 1
    return removed
