"""build-index on a terminal shows each phase with the time it took (a bar for tokenizing);
in a log (stderr not a terminal) it shows none of that, and the times are in the manifest."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PHASES = (
    "reading sources",
    "versions, status and citation counts",
    "tokenizing",
    "BM25 scores",
    "writing the index",
    "calibrating the relevance floor",
)
LAW = "# 测试条例\n\n2020年1月1日 公布\n\n<!-- INFO END -->\n\n第一条 盗窃财物。\n\n第二条 合同。\n"


def build(tmp_path: Path, name: str, stderr: int) -> subprocess.CompletedProcess:
    folder = tmp_path / "statutes" / "其他"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "测试条例.md").write_text(LAW, encoding="utf-8")
    cmd = [sys.executable, "-m", "recipes.cli", "build-index", "--config"]
    cmd += [str(REPO / "recipes/configs/index/statutes.yaml")]
    cmd += ["--set", f"statutes_dir={tmp_path / 'statutes'}", "--set", "workers=1"]
    cmd += ["--set", f"output_dir={tmp_path / name}"]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, timeout=300, cwd=REPO)


def test_phases_and_times_on_a_terminal_none_in_a_log(tmp_path: Path) -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size
    try:
        out = build(tmp_path, "on-tty", slave)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert out.returncode == 0
    text = shown.decode("utf-8", "replace")
    for phase in PHASES:
        assert f"{phase} (" in text and " s)" in text, (phase, text[-2000:])
    assert "2/2" in text  # the tokenizing bar counts articles
    assert "served:" in text
    logged = build(tmp_path, "in-log", subprocess.PIPE)
    assert logged.returncode == 0
    assert not any(p in logged.stderr.decode("utf-8", "replace") for p in PHASES)
    manifest = json.loads((tmp_path / "in-log" / "manifest.json").read_text("utf-8"))
    assert set(PHASES) | {"total"} == set(manifest["seconds"])
