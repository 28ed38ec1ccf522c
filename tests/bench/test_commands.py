"""The benchmark scripts at bench/ are click commands run as files: each one's --help runs, and
options the dated measurement pages use are still accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script, options",
    [
        (
            "compare.py",
            [
                "--llama-server",
                "--concurrency",
                "--json-out",
                "--servers",
                "--full-length",
                "--rounds",
            ],
        ),
        ("engine_speed.py", ["--model", "--set", "--concurrency", "-c", "--ttfts", "--requests"]),
        ("step_cost.py", ["--model", "--threads", "--repeats"]),
        ("omp_teams.py", ["--model", "--threads", "--repeats"]),
        ("server_steps.py", ["--model", "--concurrency", "--requests", "--json-out"]),
    ],
)
def test_help_runs_and_lists_the_documented_options(script: str, options: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage:")
    for option in options:
        assert f"{option} " in out.stdout or f"{option}," in out.stdout, option


@pytest.mark.parametrize(
    "script, options",
    [
        ("grounded_checks.py", ["--models-dir", "--index", "--out"]),
        ("api_breadth.py", ["--model", "--threads"]),
        ("token_lengths.py", ["--base-model"]),
        ("prompt_logprobs.py", ["--model", "--threads", "--tokens", "--repeats", "--agreement"]),
        ("http_loglik.py", ["--model", "--items", "--threads"]),
    ],
)
def test_argparse_scripts_run_as_files_from_anywhere(
    script: str, options: list[str], tmp_path: Path
) -> None:
    # run from outside the checkout, as the pages' commands may be: the scripts find their own
    # imports (tests.fixtures) instead of relying on the working directory
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:")
    for option in options:
        assert f"{option} " in out.stdout or f"{option}\n" in out.stdout, option


@pytest.mark.parametrize("command", ["recipes", "overload", "crash", "fuzz", "hostile"])
def test_drills_commands_have_help(command: str) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "drills.py"), command, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage:")
