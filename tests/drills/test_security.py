"""Security checks: keys compared in constant time and never logged, no data route without a
key, CORS closed to other origins, loopback unless configured."""

from __future__ import annotations

import hmac
import logging

import pytest
from litestar.testing import TestClient

from legal_edge.settings.loader import ConfigError
from legal_edge.settings.server import Settings, is_loopback
from tests.drills.apps import API_KEY, MODEL, echo_app

OTHER_KEY = "second-key-abcdefgh"
# Routes any client may call: liveness/readiness for probes, the schema, the chat page and what
# it asks first (whether a key is needed). Everything else under /v1 holds or makes data.
PUBLIC = {"/", "/favicon.ico", "/health/live", "/health/ready", "/v1/server-info", "/metrics"}
PUBLIC_PREFIXES = ("/schema", "/static/")


def _client(**kw) -> TestClient:
    return TestClient(echo_app(api_keys=(API_KEY, OTHER_KEY), **kw))


def test_every_key_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append(len(b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    with _client() as c:
        r = c.get("/v1/models", headers={"Authorization": f"Bearer {API_KEY}"})
        assert r.status_code == 200
        # the first key matched and the second was still compared: timing tells nothing
        assert sorted(calls) == sorted([len(API_KEY), len(OTHER_KEY)])


def test_keys_never_reach_the_logs(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    with _client(feedback_db=tmp_path / "fb.db") as c:
        for key in (API_KEY, "wrong-key-0000000000", ""):
            h = {"Authorization": f"Bearer {key}"} if key else {}
            c.post(
                "/v1/chat/completions",
                headers=h,
                json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            )
            c.get("/v1/models", headers=h)
            c.post("/v1/feedback", headers=h, json={"response_id": "x", "rating": "up"})
    text = caplog.text
    assert API_KEY not in text and "wrong-key-0000000000" not in text
    assert "Bearer" not in text


def test_no_route_without_a_key_reaches_data(tmp_path):
    with _client(feedback_db=tmp_path / "fb.db") as c:
        guarded = []
        for route in c.app.routes:
            path = route.path
            if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
                continue
            concrete = path.replace("{model_id:str}", MODEL)
            for part in ("law", "article"):
                concrete = concrete.replace(f"{{{part}:str}}", "x")
            for method in sorted(getattr(route, "methods", {"GET"}) - {"OPTIONS", "HEAD"}):
                r = c.request(method, concrete, json={} if method == "POST" else None)
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json()["error"]["code"] == "invalid_api_key"
                guarded.append(f"{method} {path}")
        assert {"POST /v1/feedback", "POST /v1/chat/completions", "GET /v1/models"} <= set(guarded)


@pytest.mark.parametrize("private", [False, True])
def test_metrics_private_when_configured(private):
    with _client(metrics_require_key=private) as c:
        assert c.get("/metrics").status_code == (401 if private else 200)
        r = c.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
        assert r.status_code == 200 and "legal_edge_requests_running" in r.text


def test_cors_denies_other_origins():
    with _client() as c:
        evil = {"Origin": "https://evil.example", "Authorization": f"Bearer {API_KEY}"}
        r = c.get("/v1/models", headers=evil)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        pre = c.options(
            "/v1/chat/completions",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert "access-control-allow-origin" not in pre.headers
        assert "access-control-allow-credentials" not in pre.headers


def test_nothing_binds_beyond_loopback_unless_configured():
    assert is_loopback(Settings().host)
    for host in ("0.0.0.0", "::", "192.168.1.10"):
        with pytest.raises(ConfigError, match="refusing to listen"):
            Settings(host=host).check()
        Settings(host=host, api_keys=(API_KEY,)).check()  # with keys: the admin's decision
        Settings(host=host, allow_public_without_keys=True).check()
