"""deploy/nginx/legal-edge.conf for real: nginx in front of two legal-edge servers spreads
requests over both, passes SSE streams through, and keeps answering when one server dies."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from legal_edge.models.manifest import gguf_manifest
from tests.conftest import REPO
from tests.deploy.serve_process import free_port, serve_process

CONF = REPO / "deploy" / "nginx" / "legal-edge.conf"
LEGAL_EDGE = REPO / ".venv" / "bin" / "legal-edge"
BODY = {"model": "tiny", "messages": [{"role": "user", "content": "the lease ends"}]}


def _nginx() -> str:
    """nginx comes from `./install.sh --dev` (Debian's nginx-light), like every system tool
    the tests use; missing, the test fails naming the fix instead of skipping."""
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail("nginx not found: ./install.sh --dev installs it (apt-get install nginx-light)")
    return path


@contextlib.contextmanager
def nginx_in_front_of(upstreams: list[str], workdir: Path) -> Iterator[str]:
    """Run the shipped config with its example servers replaced by ``upstreams``."""
    port = free_port()
    snippet = CONF.read_text()
    for example, real in zip(("10.0.0.11:8000", "10.0.0.12:8000"), upstreams, strict=True):
        assert f"server {example}" in snippet
        snippet = snippet.replace(f"server {example}", f"server {real}")
    snippet = snippet.replace("listen 80;", f"listen 127.0.0.1:{port};")
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"pid {workdir}/nginx.pid; error_log {workdir}/error.log warn; daemon off;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; client_body_temp_path {workdir}/body; "
        f"proxy_temp_path {workdir}/proxy;\n{snippet}\n}}\n"
    )
    nginx = _nginx()
    check = subprocess.run(
        [nginx, "-t", "-p", str(workdir), "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "nginx did not start"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _served_ok(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    pattern = r'legal_edge_requests_total\{[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


def test_load_balancer_spreads_streams_and_fails_over(tmp_path: Path, tiny_gguf: Path) -> None:
    model = tmp_path / "models" / "tiny"
    model.mkdir(parents=True)
    shutil.copy2(tiny_gguf, model / "tiny.gguf")
    gguf_manifest(model / "tiny.gguf", name="tiny").write(model)
    argv = [
        str(LEGAL_EDGE),
        "serve",
        "--backend",
        "echo",
        "--model",
        "tiny",
        "--models-dir",
        str(tmp_path / "models"),
    ]
    with (
        serve_process(argv, tmp_path / "a.log", cwd=tmp_path) as a,
        serve_process(argv, tmp_path / "b.log", cwd=tmp_path) as b,
    ):
        upstreams = [a.url.removeprefix("http://"), b.url.removeprefix("http://")]
        with (
            nginx_in_front_of(upstreams, tmp_path) as lb,
            httpx.Client(base_url=lb, timeout=30) as client,
        ):
            for _ in range(6):
                r = client.post("/v1/chat/completions", json=BODY)
                assert r.status_code == 200
                assert r.json()["choices"][0]["message"]["content"] == "the lease ends"
            assert _served_ok(a.url) >= 1 and _served_ok(b.url) >= 1  # both servers used
            with client.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as r:
                lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
            assert lines[-1] == "data: [DONE]" and len(lines) >= 4

            a.proc.terminate()  # one server goes away: the other answers everything
            a.proc.wait(timeout=60)
            for _ in range(6):
                assert client.post("/v1/chat/completions", json=BODY).status_code == 200
