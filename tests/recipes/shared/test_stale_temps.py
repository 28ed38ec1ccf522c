"""A killed atomic write leaves a hidden temporary file; the next run of the stage removes it."""

from __future__ import annotations

from pathlib import Path

from recipes.shared.paths import remove_stale_temps


def test_only_the_temporary_files_of_atomic_writes_go(tmp_path: Path) -> None:
    stale = [tmp_path / ".train.jsonl.k2x9q1.tmp", tmp_path / ".checkpoint" / ".clean-a.pkl.z.tmp"]
    kept = [tmp_path / "train.jsonl", tmp_path / ".checkpoint" / "clean-a.pkl", tmp_path / "x.tmp"]
    for p in stale + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    (tmp_path / ".peft.tmp").mkdir()  # a folder: the trainer replaces it itself
    assert remove_stale_temps(tmp_path) == 2
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert remove_stale_temps(tmp_path / "missing") == 0
