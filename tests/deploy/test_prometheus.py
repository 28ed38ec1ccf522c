"""A real Prometheus scrapes a live legal-edge server; promtool checks and unit-tests the rules.

Needs the Debian package ``prometheus`` (``prometheus`` and ``promtool`` on PATH); ``.ci/run``
installs it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.conftest import REPO
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import echo_manifest

MONITORING = REPO / "deploy" / "monitoring"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: apt-get install -y --no-install-recommends prometheus "
            "(.ci/run installs it)"
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_promtool_checks_rules_and_config():
    promtool = _tool("promtool")
    for args in (
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        r = subprocess.run(
            [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, f"promtool {' '.join(args)}:\n{r.stdout}\n{r.stderr}"


def _query(prom: str, expr: str) -> list[dict]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_real_prometheus_scrapes_live_server(tmp_path: Path):
    prometheus = _tool("prometheus")
    settings = Settings(backend="echo")
    app = create_app(settings, backend=EchoBackend(echo_manifest(), BackendOptions(n_ctx=64)))
    with live_server(app) as url:
        for i in range(3):
            r = httpx.post(
                f"{url}/v1/chat/completions",
                timeout=10,
                json={
                    "model": "echo-model",
                    "messages": [{"role": "user", "content": f"合同 {i}"}],
                },
            )
            assert r.status_code == 200
        target = url.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        # the repo's config with the live target and a 1 s interval
        text = (MONITORING / "prometheus.yml").read_text(encoding="utf-8")
        text = text.replace('"127.0.0.1:8000"', f'"{target}"')
        text = re.sub(r"scrape_interval: \d+s", "scrape_interval: 1s", text)
        text = re.sub(r"evaluation_interval: \d+s", "evaluation_interval: 1s", text)
        config.write_text(text, encoding="utf-8")
        shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
        port = _free_port()
        prom = f"http://127.0.0.1:{port}"
        log = (tmp_path / "prometheus.log").open("w")
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            result: list[dict] = []
            while time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
                try:
                    result = _query(prom, 'sum(legal_edge_requests_total{status="200"})')
                except httpx.HTTPError:
                    result = []
                if result:
                    break
                time.sleep(0.5)
            assert result, (
                "Prometheus never returned legal_edge_requests_total: "
                + (tmp_path / "prometheus.log").read_text()[-3000:]
            )
            assert float(result[0]["value"][1]) == 3.0
            up = _query(prom, 'up{job="legal-edge"}')
            assert up and up[0]["value"][1] == "1"
            # the alert rules are loaded and evaluate without errors
            rules = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            names = {r["name"] for g in rules for r in g["rules"]}
            assert {"LegalEdgeErrorRateHigh", "LegalEdgeQueueSaturated"} <= names
            assert all(r.get("health") != "err" for g in rules for r in g["rules"]), json.dumps(
                rules
            )[:2000]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


GPU_METRICS = {
    "legal_edge_gpu_utilization_ratio",
    "legal_edge_gpu_memory_used_bytes",
    "legal_edge_gpu_memory_total_bytes",
}
_NAME = re.compile(r"\b(legal_edge_[a-z_]+)")


def test_dashboard_and_rules_use_served_metric_names(tmp_path):
    """Every legal_edge_* name in the dashboard and the rules is one the server exposes."""
    from litestar.testing import TestClient

    app = create_app(
        Settings(backend="echo", feedback_db=tmp_path / "fb.db"),
        backend=EchoBackend(echo_manifest(), BackendOptions(n_ctx=64)),
    )
    with TestClient(app) as c:
        for _ in range(100):
            if c.get("/health/ready").status_code == 200:
                break
            time.sleep(0.01)
        msg = {"role": "user", "content": "合同 违约 责任"}  # several tokens: inter-token too
        rid = c.post(
            "/v1/chat/completions", json={"model": "echo-model", "messages": [msg]}
        ).json()["id"]
        c.post("/v1/feedback", json={"response_id": rid, "rating": "up"})
        exposed = set(_NAME.findall(c.get("/metrics").text)) | GPU_METRICS
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [q["query"] for q in dashboard["templating"]["list"] if "query" in q]
    used = set(_NAME.findall("\n".join(exprs) + (MONITORING / "alerts.yml").read_text()))
    assert used and used <= exposed, sorted(used - exposed)
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for word in ("P95", "P99", "Tokens per second", "Error", "Queue", "GPU", "Feedback"):
        assert word in titles
