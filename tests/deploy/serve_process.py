"""Start ``legal-edge serve`` as a separate process (a built binary, another venv) on a free
port and wait until it is ready; the process is ended when the context exits."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    ready_s: float  # from process start to /health/ready answering 200
    log: Path
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve_process(
    argv: Sequence[str],
    log: Path,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Served]:
    port = free_port()
    cmd = [*argv, "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[0]} exited with {proc.returncode}:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(
                    f"{cmd[0]} not ready after {timeout:.0f} s:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.05)
        yield Served(url=url, ready_s=time.monotonic() - t0, log=log, proc=proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the server and its engine processes
                proc.wait()


def assert_answers_in_the_trained_format(url: str) -> str:
    """Ask the shipped model a bar-exam question; its answer must open with ``答案：<letter>``
    (an echo or the untuned base fails this). Returns the answer."""
    import re

    from tests.conftest import SHIPPED_MCQ, TRAINED_ANSWER

    r = httpx.post(
        url + "/v1/chat/completions",
        timeout=120,
        json={
            "model": "legal-gemma3-270m",
            "max_tokens": 16,
            "temperature": 0,
            "messages": [{"role": "user", "content": SHIPPED_MCQ}],
        },
    )
    assert r.status_code == 200, r.text
    answer = r.json()["choices"][0]["message"]["content"]
    assert re.match(TRAINED_ANSWER, answer), answer
    return str(answer)
