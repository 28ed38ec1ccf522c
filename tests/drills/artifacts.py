"""Is every artifact under its final name whole, and does a rerun's output equal a clean run's?

``incomplete`` is what the interrupted-recipes drill runs on an output directory right after a
``kill -9``: every file whose name is final (not a ``.name.*.tmp`` of an atomic write) must parse
as what its suffix says, and a model manifest's files must match their sha256. ``compare_*``
check a finished rerun against an uninterrupted run of the same config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Files whose text is not structured (reports): checked for UTF-8 and a non-empty body only.
TEXT_SUFFIXES = (".md", ".html", ".txt", ".log", ".yaml")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"


def final_files(root: Path) -> list[Path]:
    """Files under ``root`` with their final name: no part of the path starts with a dot (the
    temporary names of atomic writes, the prepare-data checkpoint folder is checked apart)."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(p)
    return out


def temp_files(root: Path) -> list[Path]:
    """Temporary files an interrupted atomic write left behind (never read by a stage)."""
    return [p for p in root.rglob(".*.tmp") if p.is_file()]


def _check_gguf(path: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(path)  # header, metadata and tensor table
    size = path.stat().st_size
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size:
            raise ValueError(f"tensor {t.name} ends at byte {end}, the file has {size}")


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        for key in fh.keys():
            fh.get_tensor(key)


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    if not (data.startswith(PNG_MAGIC) and data.endswith(PNG_END)):
        raise ValueError("not a whole PNG (signature or IEND chunk missing)")


def _check_pt(path: Path) -> None:
    import torch

    torch.load(path, map_location="cpu", weights_only=False)


def _check_jsonl(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        raise ValueError("last line has no newline (cut short)")
    for n, line in enumerate(text.splitlines(), 1):
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: {exc.msg}") from None


def _check_text(path: Path) -> None:
    if not path.read_text(encoding="utf-8").strip():
        raise ValueError("empty")


CHECKS = {
    ".json": lambda p: json.loads(p.read_text(encoding="utf-8")),
    ".jsonl": _check_jsonl,
    ".gguf": _check_gguf,
    ".safetensors": _check_safetensors,
    ".png": _check_png,
    ".pt": _check_pt,
    **{s: _check_text for s in TEXT_SUFFIXES},
}


def _manifest_hashes(path: Path) -> list[str]:
    """A model manifest's files whose sha256 does not match (other manifests list no hashes
    of their outputs)."""
    from legal_edge.fileio import sha256_file

    data = json.loads(path.read_text(encoding="utf-8"))
    bad = []
    for entry in data.get("files") or []:
        target = (path.parent / entry["path"]).resolve()
        if entry.get("sha256") and target.is_file() and sha256_file(target) != entry["sha256"]:
            bad.append(f"{path}: {entry['path']} does not match its sha256")
    return bad


def incomplete(*roots: Path) -> list[str]:
    """Every file under a final name that is not whole, as ``path: reason``; empty when all are."""
    bad: list[str] = []
    for root in roots:
        if not root.exists():
            continue
        for p in final_files(root):
            check = CHECKS.get(p.suffix.lower())
            if check is None:
                continue  # binary blobs no stage here writes (e.g. tokenizer.model)
            try:
                check(p)
            except Exception as exc:
                bad.append(f"{p}: {type(exc).__name__}: {exc}")
                continue
            if p.name == "manifest.json":
                bad.extend(_manifest_hashes(p))
    return bad


def compare_bytes(ref: Path, got: Path, names: list[str]) -> list[str]:
    """Files (relative names) that differ or are missing in ``got``."""
    diff = []
    for name in names:
        a, b = ref / name, got / name
        if not b.is_file():
            diff.append(f"{name}: missing")
        elif a.read_bytes() != b.read_bytes():
            diff.append(f"{name}: differs")
    return diff


def gguf_tensors(path: Path) -> dict[str, Any]:
    import gguf
    import numpy as np

    return {t.name: np.array(t.data, dtype=np.float32) for t in gguf.GGUFReader(path).tensors}


def max_abs_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The largest element difference between two tensor dicts (inf when the keys differ)."""
    import numpy as np

    if a.keys() != b.keys():
        return float("inf")
    diffs = [np.abs(np.asarray(a[k], np.float32) - np.asarray(b[k], np.float32)) for k in a]
    return max((float(d.max()) for d in diffs if d.size), default=0.0)


def safetensors_tensors(path: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(path))
