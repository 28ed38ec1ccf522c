"""Schema fuzzing drill (quick form): schemathesis against the served OpenAPI schema, every
operation, with and without the API key. Long form: ``.venv/bin/python bench/drills.py fuzz``."""

from __future__ import annotations

import httpx
import pytest
from litestar.testing import TestClient

from tests.drills.apps import API_KEY, MODEL, echo_app
from tests.drills.fuzz import fuzz
from tests.fixtures.live_server import live_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "feedback.db"
    app = echo_app(ctx=4096, api_keys=(API_KEY,), feedback_db=db, response_retention_days=1)
    with live_server(app) as url:
        yield url


@pytest.mark.parametrize("examples", [3, pytest.param(15, marks=pytest.mark.slow)])
def test_fuzz_with_key_finds_nothing(served, examples):
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    rid = httpx.post(served + "/v1/chat/completions", json=chat, headers=AUTH).json()["id"]
    report = fuzz(served, examples=examples, headers=AUTH, response_id=rid)
    assert report.failures == []
    assert not any(s.startswith("5") and s != "503" for s in report.statuses)
    # valid requests get through: the schema states what the server checks (a valid request
    # refused for anything but an unknown name or the context is in report.failures)
    for op, n in report.positive.items():
        assert report.accepted[op] >= n // 3, (op, report.as_dict()["positive_accepted"])


def test_fuzz_without_key_every_v1_route_is_refused(served):
    report = fuzz(served, examples=2)
    assert report.failures == []
    assert report.accepted.total() == 0  # no generated request got past the key guard
    assert report.statuses["401"] > 0


def test_schema_states_what_the_server_enforces():
    with TestClient(echo_app(feedback_db=None)) as c:
        doc = c.get("/schema/openapi.json").json()
    s = doc["components"]["schemas"]
    chat, comp = s["ChatCompletionRequest"]["properties"], s["CompletionRequest"]["properties"]
    assert chat["temperature"]["minimum"] == 0.0 and chat["top_p"]["exclusiveMinimum"] == 0.0
    assert chat["n"]["maximum"] == 8 and chat["messages"]["minItems"] == 1
    assert chat["stop"]["maxItems"] == 8 and chat["stop"]["items"]["minLength"] == 1
    assert chat["tools"]["maxItems"] == 64
    grounding = s["GroundingOptions"]
    assert grounding["additionalProperties"] is False
    assert grounding["properties"]["k"]["minimum"] == 0
    assert set(s["ChatMessage"]["properties"]["role"]["enum"]) == {
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
    }
    assert comp["prompt"]["maxItems"] == 1 and comp["suffix"]["maxLength"] == 0
    fb = s["FeedbackRequest"]
    assert set(fb["properties"]["rating"]["enum"]) == {"up", "down"}
    assert fb["additionalProperties"] is False
    assert fb["properties"]["tags"]["items"]["minLength"] == 1
    post = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"application/json", "text/event-stream"} <= set(post["200"]["content"])
    for status in ("400", "401", "404", "413", "503", "504"):
        ref = post[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody"), (status, ref)
