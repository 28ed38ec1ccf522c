"""A/B with the real llama.cpp backend: ``ab_model`` loads B beside A, clients stick to one."""

from __future__ import annotations

import shutil

import httpx

from legal_edge.feedback import FeedbackStore
from legal_edge.server.ab import load_runtimes
from legal_edge.server.app import create_app, load_runtime
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server


def test_serve_two_gguf_models_with_a_split(tmp_path, tiny_gguf):
    a = shutil.copy(tiny_gguf, tmp_path / "legal-a.gguf")
    b = shutil.copy(tiny_gguf, tmp_path / "legal-b.gguf")
    settings = Settings(
        backend="llamacpp",
        model=str(a),
        ab_model=str(b),
        ab_split=0.5,
        n_ctx=256,
        n_parallel=2,
        n_threads=1,
        feedback_db=tmp_path / "fb.db",
    )
    runtimes = load_runtimes(settings, load_runtime)
    assert [(rt.name, rt.variant) for rt in runtimes] == [("legal-a", "A"), ("legal-b", "B")]
    with live_server(create_app(settings, runtimes=runtimes)) as url:
        assert [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]] == [
            "legal-a",
            "legal-b",
        ]
        got = {}
        for user in ("u1", "u2", "u3", "u4", "u5", "u6", "u1", "u2"):
            r = httpx.post(
                f"{url}/v1/chat/completions",
                timeout=60,
                headers={"X-User-Id": user},
                json={
                    "model": "legal-a",
                    "max_tokens": 4,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": "合同"}],
                },
            )
            assert r.status_code == 200, r.text
            variant = r.headers["x-model-variant"]
            assert r.json()["model"] == {"A": "legal-a", "B": "legal-b"}[variant]
            assert got.setdefault(user, variant) == variant  # sticky
        assert set(got.values()) == {"A", "B"}
        metrics = httpx.get(f"{url}/metrics").text
        assert (
            'legal_edge_requests_total{model="legal-b",route="chat",status="200",variant="B"}'
            in metrics
        )
    rows = FeedbackStore(tmp_path / "fb.db").rows(
        "SELECT variant, COUNT(*) AS n FROM responses GROUP BY variant ORDER BY variant"
    )
    assert [r["variant"] for r in rows] == ["A", "B"] and sum(r["n"] for r in rows) == 8


def test_ab_model_must_have_its_own_name(tmp_path, tiny_gguf):
    import pytest

    a = shutil.copy(tiny_gguf, tmp_path / "same.gguf")
    (tmp_path / "b").mkdir()
    b = shutil.copy(tiny_gguf, tmp_path / "b" / "same.gguf")
    settings = Settings(backend="llamacpp", model=str(a), ab_model=str(b), n_ctx=256)
    with pytest.raises(ValueError, match="ab_model: A and B are the same model"):
        load_runtimes(settings, load_runtime)
