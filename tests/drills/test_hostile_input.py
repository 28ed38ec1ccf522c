"""Hostile input for the server: each gets a clear error or a bounded wait, never a crash, a
hang, or a file read outside the models directory. Long form: ``bench/drills.py hostile``."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest
from litestar.testing import TestClient

from legal_edge.fileio import sha256_file
from legal_edge.models.manifest import ManifestError, ModelFile, gguf_manifest, resolve_model
from legal_edge.server.app import create_app, load_runtime
from legal_edge.server.slow_clients import bounded_h11
from legal_edge.settings.server import Settings
from tests.drills.apps import MODEL, echo_app
from tests.drills.hostile import huge_body, slow_client
from tests.fixtures.live_server import live_server

TWO_GB = 2 * 1024**3
READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def served():
    app = echo_app(ctx=8192, max_body_bytes=1_000_000)
    with live_server(app, http=bounded_h11(READ_TIMEOUT_S)) as url:
        yield url


def _ready_error(settings: Settings) -> dict:
    with TestClient(create_app(settings)) as c:
        for _ in range(600):
            body = c.get("/health/ready").json()
            if body["status"] != "loading":
                return body
            time.sleep(0.05)
    raise AssertionError("still loading")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_broken_gguf_is_a_clear_load_failure(tiny_gguf, tmp_path, damage):
    data = tiny_gguf.read_bytes()
    bad = tmp_path / f"{damage}.gguf"
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"GGUF" + b"\0" * 64)
    try:
        settings = Settings(model=str(bad), cpu_repack="off")
        body = _ready_error(settings)
    except (ManifestError, ValueError) as exc:  # refused before serving: just as clear
        assert str(bad) in str(exc) or "GGUF" in str(exc)
        return
    assert body["status"] == "failed" and "could not load" in body["error"]


def test_manifest_sha256_mismatch_is_refused_at_start(tiny_gguf, tmp_path):
    model_dir = tmp_path / "models" / "tampered"
    model_dir.mkdir(parents=True)
    shutil.copy(tiny_gguf, model_dir / "model.gguf")
    m = gguf_manifest(model_dir / "model.gguf", name="tampered")
    m.files = [ModelFile("model", "model.gguf", sha256_file(model_dir / "model.gguf"))]
    m.write(model_dir)
    with open(model_dir / "model.gguf", "r+b") as f:  # one byte changed after publishing
        f.seek(-1, 2)
        f.write(b"\x01" if f.read(1) != b"\x01" else b"\x02")
    with pytest.raises(ManifestError, match="sha256 mismatch"):
        load_runtime(Settings(model="tampered", models_dir=tmp_path / "models"))


def test_model_names_cannot_leave_the_models_dir(tiny_gguf, tmp_path):
    models = tmp_path / "models"
    (models / "evil").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    shutil.copy(tiny_gguf, tmp_path / "secret" / "model.gguf")
    m = gguf_manifest(tmp_path / "secret" / "model.gguf", name="secret")
    m.write(tmp_path / "secret")
    with pytest.raises(ManifestError, match="cannot leave"):
        resolve_model("../secret", models)
    # over HTTP a model name is only looked up among the served models, never a path
    with TestClient(echo_app()) as c:
        for name in ("../secret", "../../etc/passwd", "/etc/passwd"):
            r = c.post("/v1/completions", json={"model": name, "prompt": "x"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        r = c.get("/v1/models/..%2F..%2Fetc%2Fpasswd")
        assert r.status_code == 404 and "error" in r.json()


@pytest.mark.parametrize("chunked", [False, True])
def test_two_gigabyte_body_is_refused_without_being_read(served, chunked):
    out = huge_body(served, "/v1/chat/completions", TWO_GB, chunked=chunked)
    assert out.status == 413
    assert out.sent_bytes < 64 * 1024**2  # it stopped reading long before 2 GB
    assert httpx.get(served + "/health/live").status_code == 200


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_slow_client_gets_408_after_the_read_timeout(served, phase):
    out = slow_client(served, phase=phase, byte_every_s=0.1, give_up_s=10 * READ_TIMEOUT_S)
    assert out.status == 408, out
    assert out.seconds < 10 * READ_TIMEOUT_S
    # meanwhile (and after) others are served
    body = {"model": MODEL, "messages": [{"role": "user", "content": "still here"}]}
    r = httpx.post(served + "/v1/chat/completions", json=body, timeout=10)
    assert r.json()["choices"][0]["message"]["content"] == "still here"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "echo-model", "messages": [{"role": "user", "content": "a \xff\xfe b"}]}',
        b'{"model": "echo-model", "messages": [{"role": "user", "content": "a \\ud800 b"}]}',
        b'{"model": "echo-model", "messages": [{"role": "user", "content": "a \xed\xa0\x80"}]}',
    ],
)
def test_invalid_utf8_is_a_400(served, raw):
    r = httpx.post(
        served + "/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_a_thousand_messages_get_an_answer_or_a_clear_400(served):
    roles = ["user", "assistant"]
    messages = [{"role": roles[i % 2], "content": f"turn {i}"} for i in range(1000)]
    t0 = time.monotonic()
    r = httpx.post(
        served + "/v1/chat/completions",
        json={"model": MODEL, "messages": messages[:-1] + [messages[0]]},
        timeout=60,
    )
    assert time.monotonic() - t0 < 30
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]["code"] in ("context_length_exceeded", "invalid_request")
    else:
        assert json.loads(r.text)["choices"][0]["message"]["content"] == "turn 0"
