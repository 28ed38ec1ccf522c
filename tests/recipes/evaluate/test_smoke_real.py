"""The README's smoke command on the real default model and real rows (about a minute)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_smoke_config_on_the_default_model(tmp_path, default_base_gguf, legal_data):
    out = tmp_path / "smoke"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.cli",
            "evaluate",
            "--config",
            "recipes/configs/eval/smoke.yaml",
            "--set",
            f"output_dir={out}",
            # One thread: as fast as two on an idle 2-core box minus ~40%, and it does not
            # collapse when other jobs share the cores (two threads did: 15+ minutes).
            "--set",
            "threads=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith(str(out))
    assert "items/s" in proc.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    kinds = {s["kind"] for s in results["suites"].values()}
    assert kinds == {"mcq", "case", "safety", "general"}
    for suite in results["suites"].values():
        scored = suite["models"]["base"]
        assert scored["n_scored"] == suite["n_items"] > 0
    jec = results["suites"]["jecqa"]["models"]["base"]["metrics"]["acc_loglik"]
    assert 0.0 <= jec["ci_low"] <= jec["value"] <= jec["ci_high"] <= 1.0
    assert (out / "report.html").stat().st_size > 1000
