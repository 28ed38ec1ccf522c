"""Crash and restart drill (quick form: two kills). Long form: ``bench/drills.py crash``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drills.crash import crash_rounds

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "legal-edge.service"


@pytest.mark.slow  # three server starts: ~30 s on 2 shared cores
def test_kill_9_mid_stream_and_mid_write_loses_no_acknowledged_feedback(tiny_gguf, tmp_path):
    rep = crash_rounds(tiny_gguf, tmp_path, rounds=2, writers=2)
    assert rep.problems == []
    assert rep.acknowledged > 0  # the kills did land in the middle of writes
    assert rep.found == rep.acknowledged, rep.as_dict()
    assert len(rep.restart_ready_s) == 2  # ready again each time, nothing removed by hand


def test_systemd_unit_restarts_the_server():
    # systemd-analyze verify of the installed unit: tests/deploy/test_install_system.py
    lines = UNIT.read_text().splitlines()
    assert "Restart=always" in lines and any(x.startswith("RestartSec=") for x in lines)
    assert not any(x.startswith("PIDFile=") for x in lines)  # no pid file to go stale
