"""Atomic writes: the mode a plain open() gives, without touching the process umask."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from legal_edge import fileio


@pytest.fixture
def umask_027():
    old = os.umask(0o027)  # the test sets it once; the code under test must never touch it
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def no_umask_calls(monkeypatch):
    def refuse(mask: int) -> int:
        raise AssertionError("os.umask is process-wide: another thread's files get its mode")

    monkeypatch.setattr(os, "umask", refuse)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_takes_the_umask_without_setting_it(tmp_path, umask_027, no_umask_calls):
    out = fileio.atomic_write_text(tmp_path / "sub" / "a.json", "{}\n")
    assert out.read_text() == "{}\n"
    assert mode(out) == 0o640  # 0o666 less the umask, as open() would make it (not mkstemp's 0o600)
    assert [p.name for p in out.parent.iterdir()] == ["a.json"]  # no temporary left


def test_replaced_atomically_gives_the_file_the_same_mode(tmp_path, umask_027, no_umask_calls):
    out = tmp_path / "model.gguf"
    out.write_bytes(b"old")
    with fileio.replaced_atomically(out) as tmp:
        assert tmp.parent == tmp_path and tmp.exists() and out.read_bytes() == b"old"
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new" and mode(out) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "x.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), fileio.replaced_atomically(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20) + b"tail"  # more than one read block
    (tmp_path / "f").write_bytes(data)
    assert fileio.sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
