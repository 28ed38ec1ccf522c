"""Whether a model answers from the statute books is visible to clients: ``grounded`` on
``/v1/models``, why not on ``/health/ready``, a gauge on ``/metrics``, what the books are on
``GET /v1/statutes`` and ``legal-edge statutes status``; the CLI finds the index the server
finds. Over the small real index (tests/fixtures/statute_index.py) and echo backends."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from litestar.testing import TestClient

from legal_edge.cli import main
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest, wait_ready
from tests.legal_edge.server.test_grounding import grounded_runtime

pytestmark = pytest.mark.slow  # builds the small index

THEFT = "刑法第二百六十四条规定的盗窃，数额较大怎么处罚？"


def gauge(c: TestClient, model: str) -> float:
    text = c.get("/metrics").text
    m = re.search(rf'^legal_edge_grounded\{{model="{re.escape(model)}"\}} (\S+)$', text, re.M)
    assert m, text[-2000:]
    return float(m.group(1))


def test_a_grounded_and_a_plain_model(small_statute_index: Path) -> None:  # noqa: F811
    runtimes = [grounded_runtime(small_statute_index), grounded_runtime(None, "echo-plain")]
    with TestClient(create_app(Settings(backend="echo"), runtimes=runtimes)) as c:
        wait_ready(c)
        cards = {m["id"]: m for m in c.get("/v1/models").json()["data"]}
        assert cards["echo-legal"]["grounded"] is True
        assert "grounding_off_reason" not in cards["echo-legal"]
        assert cards["echo-plain"]["grounded"] is False
        assert "names no statute index" in cards["echo-plain"]["grounding_off_reason"]
        assert c.get("/v1/models/echo-legal").json()["grounded"] is True
        ready = c.get("/health/ready").json()
        assert ready["grounding"]["degraded"] == []  # the plain model never asked for books
        assert ready["grounding"]["models"]["echo-legal"]["grounded"] is True
        assert (gauge(c, "echo-legal"), gauge(c, "echo-plain")) == (1.0, 0.0)
        books = c.get("/v1/statutes").json()
        assert books["available"] is True and books["models"]["echo-plain"]["grounded"] is False
        info = books["books"]
        assert info["index"] == str(small_statute_index)
        assert info["laws"] >= 4 and info["in_force"] > 1000 and info["built_at"]
        assert info["newest_version"] >= "2023-12-29"  # 公司法 2023
        (source,) = info["sources"]
        assert source["kind"] == "folder" and source["licence"] == "public-domain"
        assert isinstance(info["min_score"], float)
        # the answer's citations name where each article came from
        cite = c.post(
            "/v1/chat/completions",
            json={"model": "echo-legal", "messages": [{"role": "user", "content": THEFT}]},
        ).json()["citations"][0]
        assert cite["source"] == source["name"] and cite["licence"] == "public-domain"


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated"])
def test_a_model_whose_index_is_missing_or_corrupt_is_reported_ungrounded(
    small_statute_index: Path,  # noqa: F811
    tmp_path: Path,
    damage: str,
) -> None:
    index = tmp_path / "index"
    if damage != "missing":
        shutil.copytree(small_statute_index.resolve(), index)
        db = index / "index.sqlite3"
        if damage == "corrupt":
            db.write_bytes(b"this is not a statute index" * 100)
        else:
            db.write_bytes(db.read_bytes()[: 64 * 1024])
    with TestClient(create_app(Settings(backend="echo"), runtimes=[grounded_runtime(index)])) as c:
        wait_ready(c)  # the server serves, without the books
        card = c.get("/v1/models").json()["data"][0]
        assert card["grounded"] is False
        ready = c.get("/health/ready")
        assert ready.status_code == 200
        state = ready.json()["grounding"]
        assert state["degraded"] == ["echo-legal"]
        reason = state["models"]["echo-legal"]["reason"]
        assert reason == card["grounding_off_reason"] and str(index) in reason
        assert ("not found" in reason) if damage == "missing" else ("statute index" in reason)
        assert gauge(c, "echo-legal") == 0.0
        assert c.get("/v1/statutes").json()["available"] is False
        body = c.post(
            "/v1/chat/completions",
            json={"model": "echo-legal", "messages": [{"role": "user", "content": THEFT}]},
        ).json()
        assert "citations" not in body


def test_statutes_commands_find_the_index_the_server_finds(
    small_statute_index: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = tmp_path / "models"
    m = echo_manifest("legal-test")
    m.statutes_index = str(small_statute_index)
    m.write(models / "legal-test")
    config = tmp_path / "legal-edge.yaml"
    config.write_text(yaml.safe_dump({"models_dir": str(models), "model": "legal-test"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEGAL_EDGE_CONFIG", raising=False)
    run = CliRunner().invoke
    r = run(main, ["statutes", "show", "刑法", "264"])  # ./legal-edge.yaml, no --index
    assert r.exit_code == 0, r.output
    assert "盗窃公私财物" in r.output
    r = run(main, ["statutes", "search", "醉酒驾驶机动车会判刑吗", "-k", "3", "--json"])
    assert r.exit_code == 0 and '"number": "133-1"' in r.output, r.output
    r = run(main, ["statutes", "show", "刑法", "264", "--config", str(config)])
    assert r.exit_code == 0, r.output
    r = run(main, ["statutes", "status", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["index"] == str(small_statute_index) and info["in_force"] > 1000
    assert info["versions_kept"] and info["sources"][0]["kind"] == "folder"
    r = run(main, ["statutes", "status"])
    assert "laws in force" in r.output and "relevance floor" in r.output
    m.statutes_index = str(tmp_path / "nowhere")
    m.write(models / "legal-test")
    r = run(main, ["statutes", "status"])
    assert r.exit_code != 0 and "nowhere" in r.output and "not found" in r.output
