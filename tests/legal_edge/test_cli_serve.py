"""`legal-edge serve` as a user runs it: a real process, a real port, the default model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import MODELS_DIR, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "legal_edge.cli", "serve", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


def test_serve_unknown_model_fails_before_binding(tmp_path):
    proc = start(["--models-dir", str(tmp_path), "--model", "no-such-model", "--backend", "echo"])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "no-such-model" in out and "not found" in out


def test_serve_refuses_public_bind_without_keys(tmp_path):
    proc = start(["--host", "0.0.0.0", "--backend", "echo"], env={"LEGAL_EDGE_API_KEYS": ""})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "without API keys" in out


@pytest.mark.slow
def test_serve_shipped_default_answers_in_the_trained_format(default_base_gguf, tmp_path):
    """`legal-edge serve` with no --model serves the shipped legal model (base + the committed
    adapter, or its merged build): a bar-exam question gets `答案：<letter>`, which an echo and
    the untuned base (it rambles, 99.5 % invalid answers) do not produce."""
    from tests.deploy.serve_process import assert_answers_in_the_trained_format, serve_process

    argv = [sys.executable, "-m", "legal_edge.cli", "serve", "--models-dir", str(MODELS_DIR)]
    argv += ["--threads", "2", "--parallel", "2", "--ctx", "1024"]
    with serve_process(argv, tmp_path / "serve.log", timeout=300, cwd=tmp_path) as served:
        models = httpx.get(served.url + "/v1/models", timeout=10).json()["data"]
        assert [m["id"] for m in models] == ["legal-gemma3-270m"]
        assert_answers_in_the_trained_format(served.url)
