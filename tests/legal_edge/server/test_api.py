"""The HTTP API on the deterministic echo backend: shapes, streaming, stop, usage, errors, auth."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.models.manifest import ModelManifest
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.legal_edge.helpers import echo_manifest, wait_ready

MODEL = "echo-model"


def manifest(ctx: int = 64) -> ModelManifest:
    return echo_manifest(MODEL, ctx)


def make_client(ctx: int = 64, **settings_kw) -> TestClient:
    settings = Settings(backend="echo", **settings_kw)
    opts = BackendOptions(
        n_ctx=ctx,
        max_queue=settings_kw.get("max_queue", 64),
        n_parallel=settings_kw.get("n_parallel", 8),
    )
    return TestClient(create_app(settings, backend=EchoBackend(manifest(ctx), opts)))


@pytest.fixture
def client():
    with make_client() as c:
        wait_ready(c)
        yield c


def chat(c: TestClient, content: str = "劳动 合同 解除", **kw):
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], **kw}
    return c.post("/v1/chat/completions", json=body)


def sse_events(text: str) -> list:
    lines = [ln[6:] for ln in text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(x) for x in lines[:-1]]


def test_chat_completion_shape_and_usage(client):
    r = chat(client)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "劳动 合同 解除"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 3
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 3
    assert r.headers["x-request-id"] == body["id"]


def test_max_tokens_gives_length(client):
    body = chat(client, "a b c d e", max_tokens=2).json()
    assert body["choices"][0]["message"]["content"] == "a b"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


def test_stream_ends_with_done_and_usage(client):
    r = chat(client, "one two three", stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "one two three"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 3


def test_stop_string_cuts_output_streaming_and_not(client):
    body = chat(client, "alpha beta gamma delta", stop=["gam"]).json()
    assert body["choices"][0]["message"]["content"] == "alpha beta "
    assert body["choices"][0]["finish_reason"] == "stop"
    events = sse_events(chat(client, "alpha beta gamma delta", stop="gamma", stream=True).text)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == "alpha beta "


def test_completions_endpoint(client):
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x y z", "max_tokens": 5})
    assert r.status_code == 200
    assert r.json()["choices"][0]["text"] == "x y z"
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x y", "stream": True})
    events = sse_events(r.text)
    assert "".join(e["choices"][0]["text"] for e in events) == "x y"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": "a"},
            "max_tokens",
        ),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": 5},
            "temperature",
        ),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 9}, "n"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stop": [""]}, "stop"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client, body, param):
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param
    assert err["type"] == "invalid_request_error"
    assert param.split("[")[0] in err["message"]


def test_malformed_json_is_400(client):
    r = client.post(
        "/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404_never_another_model(client):
    r = chat(client, model="gpt-4")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/models/gpt-4").status_code == 404


def test_prompt_over_context_is_400_not_truncated(client):
    r = chat(client, " ".join(["词"] * 100))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    # a prompt that fits but whose max_tokens does not
    r = chat(client, "a b c", max_tokens=200)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_body_over_limit_is_413():
    with make_client(max_body_bytes=1000) as c:
        r = chat(c, "x " * 2000)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"


def test_models_health_schema_metrics(client):
    models = client.get("/v1/models").json()
    assert models["data"][0]["id"] == MODEL
    assert models["data"][0]["metadata"]["context_length"] == 64
    assert client.get("/health/live").json() == {"status": "ok"}
    chat(client)
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models"} <= set(paths)
    text = client.get("/metrics").text
    assert 'legal_edge_requests_total{model="echo-model",route="chat",status="200"' in text
    assert "legal_edge_request_duration_seconds_bucket" in text
    assert "legal_edge_time_to_first_token_seconds_count" in text
    assert 'legal_edge_generation_tokens_total{model="echo-model",variant="default"} 3.0' in text


class SlowStartEcho(EchoBackend):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.release = asyncio.Event()

    async def start(self) -> None:
        await self.release.wait()
        await super().start()


def test_ready_is_503_until_model_loaded():
    backend = SlowStartEcho(manifest(), BackendOptions())
    with TestClient(create_app(Settings(backend="echo"), backend=backend)) as c:
        r = c.get("/health/ready")
        assert r.status_code == 503 and r.headers["retry-after"]
        assert c.get("/health/live").status_code == 200
        r = chat(c)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_ready"
        with c.portal() as portal:
            portal.call(backend.release.set)
        wait_ready(c)
        assert chat(c).status_code == 200


def test_api_keys_required_and_checked():
    with make_client(api_keys=("secret-key-1", "secret-key-2")) as c:
        wait_ready(c)
        r = chat(c)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        r = c.post(
            "/v1/chat/completions",
            headers={"Authorization": "Bearer wrong-key"},
            json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 401
        r = c.post(
            "/v1/chat/completions",
            headers={"Authorization": "Bearer secret-key-2"},
            json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 200
        # health stays open for load balancers
        assert c.get("/health/ready").status_code == 200


def test_access_log_has_no_prompt(client, caplog):
    caplog.set_level("INFO", logger="legal_edge.access")
    chat(client, "保密 客户 信息")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert '"event": "request"' in logged
    assert "保密" not in logged


def test_settings_refuse_public_bind_without_keys(tmp_path: Path):
    from legal_edge.settings.loader import ConfigError
    from legal_edge.settings.server import load_settings

    with pytest.raises(ConfigError, match="host"):
        load_settings(None, {"host": "0.0.0.0"}, environ={})
    s = load_settings(
        None, {"host": "0.0.0.0"}, environ={"LEGAL_EDGE_API_KEYS": "abcdefgh1,abcdefgh2"}
    )
    assert s.api_keys == ("abcdefgh1", "abcdefgh2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("port: 9001\nbogus: 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(cfg, {}, environ={})
