"""Small file helpers every stage shares: atomic writes and content hashes."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FILE_MODE = 0o666  # what open() asks for; the kernel takes the umask off, as for any new file


def _new_temp(beside: Path) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file next to ``beside`` with the mode a plain open()
    would give it. Not ``tempfile.mkstemp``: its 0600 would need a chmod to the umask, and
    reading the umask means setting it, which races with every other thread of the process."""
    for _ in range(100):
        tmp = beside.with_name(f".{beside.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {beside}")


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def replaced_atomically(out: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out`` for a writer that needs a file name (a GGUF
    writer, llama.cpp's quantizer); on success it becomes ``out`` (mode as open())."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(out)  # a model file is readable like any other file the user writes
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Send this process's file descriptor 2 to a temporary file while the block runs (native
    code such as llama.cpp writes there directly); yields a function returning what was written."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as buf:
        saved = os.dup(2)
        os.dup2(buf.fileno(), 2)
        try:
            yield lambda: (buf.seek(0), buf.read().decode("utf-8", errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def sha256_file(path: Path | str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
