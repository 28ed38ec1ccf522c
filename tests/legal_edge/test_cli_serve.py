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


@pytest.mark.slow
def test_serve_default_model_answers(default_base_gguf):
    port = free_port()
    proc = start(
        [
            "--port",
            str(port),
            "--models-dir",
            str(MODELS_DIR),
            "--model",
            "gemma3-270m",
            "--threads",
            "2",
            "--parallel",
            "2",
            "--ctx",
            "1024",
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        r = httpx.post(
            url + "/v1/chat/completions",
            timeout=60,
            json={
                "model": "gemma3-270m",
                "max_tokens": 16,
                "temperature": 0,
                "messages": [{"role": "user", "content": "什么是诉讼时效？"}],
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] > 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_unknown_model_fails_before_binding(tmp_path):
    proc = start(["--models-dir", str(tmp_path), "--model", "no-such-model", "--backend", "echo"])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "no-such-model" in out and "not found" in out


def test_serve_refuses_public_bind_without_keys(tmp_path):
    proc = start(["--host", "0.0.0.0", "--backend", "echo"], env={"LEGAL_EDGE_API_KEYS": ""})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "without API keys" in out
