"""The closed-book guard of grounded answers, over the small real statute index and the echo
backend. The echo answers with the last user turn: asked closed-book it repeats the question as
sent, asked grounded it repeats the rewritten question (``参考法条：…``). So a question that opens
with a refusal phrase is a closed-book refusal, and the grounded answer never is: which answer
the client got shows which way the guard decided."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.closed_book_guard import REFUSED
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest, streamed, wait_ready

pytestmark = pytest.mark.slow  # builds the small index

MODEL = "echo-legal"
# Words (the echo's tokens) that retrieve 刑法 articles on theft; the first opens with a refusal.
REFUSING = "抱歉 我不能 告诉你 怎么 盗窃 公私 财物 数额较大"
ASKING = "盗窃 公私 财物 数额较大 怎么 处罚"
GUARD = 'legal_edge_grounding_guard_total{{model="echo-legal",outcome="{}"}}'


def runtime(index: Path) -> ModelRuntime:
    m = echo_manifest(MODEL, ctx=4096)
    m.statutes_index = str(index)
    return ModelRuntime(MODEL, m, EchoBackend(m, BackendOptions(n_ctx=4096, n_parallel=4)))


@pytest.fixture
def make_client(small_statute_index: Path) -> Iterator[Any]:  # noqa: F811
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        s = Settings(backend="echo", grounding_min_score=1.0, **settings)
        c = TestClient(create_app(s, runtimes=[runtime(small_statute_index)]))
        c.__enter__()
        clients.append(c)
        wait_ready(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def ask(c: TestClient, content: str, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}
    r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def stream(c: TestClient, content: str, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True}
    r = c.post("/v1/chat/completions", json={**body, **extra})
    assert r.status_code == 200, r.text
    return streamed(r.text)


def metric(c: TestClient, series: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_closed_book_refusal_is_the_answer(make_client: Any) -> None:
    c = make_client()
    body = ask(c, REFUSING)
    # the closed-book answer (the question as sent), not the grounded one (参考法条…)
    assert body["choices"][0]["message"]["content"] == REFUSING
    assert body["grounding"] == {"outcome": REFUSED}
    assert body["citations"] == []  # no article shown as a source
    assert body["usage"]["completion_tokens"] == len(REFUSING.split())
    assert body["id"].endswith("-closed-book")
    assert metric(c, GUARD.format("refused")) == 1 and metric(c, GUARD.format("passed")) == 0
    # a question that does not open with a refusal: the grounded answer, as without the guard
    grounded = ask(c, ASKING)
    assert grounded["choices"][0]["message"]["content"].startswith("参考法条：")
    assert grounded["grounding"] == {"outcome": "grounded"}
    assert [x["given"] for x in grounded["citations"] if x["given"]] == [1, 2, 3]
    assert metric(c, GUARD.format("passed")) == 1
    # both sequences ended: nothing left running in the backend
    assert c.get("/metrics").text.count('legal_edge_requests_running{model="echo-legal"} 0.0')


def test_without_the_guard_the_grounded_answer_is_served(make_client: Any) -> None:
    c = make_client(grounding_guard=False)
    body = ask(c, REFUSING)
    assert body["choices"][0]["message"]["content"].startswith("参考法条：")
    assert body["grounding"] == {"outcome": "grounded"}
    assert metric(c, GUARD.format("refused")) == metric(c, GUARD.format("passed")) == 0


def test_a_streamed_refusal_sends_no_grounded_token(make_client: Any) -> None:
    c = make_client()
    text, chunks = stream(c, REFUSING, stream_options={"include_usage": True})
    assert text == REFUSING  # not one word of the grounded answer went out first
    finish = [ch for ch in chunks if ch["choices"] and ch["choices"][0]["finish_reason"]]
    assert finish[-1]["grounding"] == {"outcome": REFUSED} and finish[-1]["citations"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == len(REFUSING.split())
    assert chunks[-1]["grounding"] == {"outcome": REFUSED}
    text, chunks = stream(c, ASKING)
    assert text.startswith("参考法条：") and chunks[-1]["grounding"] == {"outcome": "grounded"}


def test_the_guard_reads_only_its_tokens(make_client: Any) -> None:
    late = "盗窃 公私 财物 数额较大 我 想 问 抱歉"  # the refusal phrase is the 8th word
    assert ask(make_client(grounding_guard_tokens=8), late)["grounding"]["outcome"] == REFUSED
    body = ask(make_client(grounding_guard_tokens=7), late)
    assert body["grounding"]["outcome"] == "grounded"


def test_every_choice_follows_the_decision(make_client: Any) -> None:
    c = make_client()
    for question, refused in ((REFUSING, True), (ASKING, False)):
        body = ask(c, question, n=3, temperature=0.9)
        texts = [ch["message"]["content"] for ch in body["choices"]]
        assert len(texts) == 3
        if refused:
            assert texts == [REFUSING] * 3 and body["grounding"]["outcome"] == REFUSED
        else:
            assert all(t.startswith("参考法条：") for t in texts)
        text, chunks = stream(c, question, n=2)
        assert chunks[-1]["grounding"]["outcome"] == (REFUSED if refused else "grounded")
    assert metric(c, GUARD.format("refused")) == 2  # one decision per request, not per choice


def test_no_guard_without_articles_or_for_automation(make_client: Any) -> None:
    c = make_client()
    off = ask(c, REFUSING, grounding=False)  # the prompt is the closed-book one already
    assert off["grounding"] == {"outcome": "retrieval_off"}
    schema = ask(c, REFUSING, response_format={"type": "json_object"})
    assert "grounding" not in schema and "citations" not in schema
    assert metric(c, GUARD.format("refused")) == metric(c, GUARD.format("passed")) == 0


def test_a_multi_turn_conversation_is_judged_as_sent(make_client: Any) -> None:
    c = make_client()
    messages = [
        {"role": "user", "content": ASKING},
        {"role": "assistant", "content": "依照刑法第二百六十四条处罚。"},
        {"role": "user", "content": REFUSING},
    ]
    r = c.post("/v1/chat/completions", json={"model": MODEL, "messages": messages})
    body = r.json()
    assert body["grounding"] == {"outcome": REFUSED}
    assert body["choices"][0]["message"]["content"] == REFUSING


def test_the_setting_is_checked() -> None:
    from legal_edge.settings.loader import ConfigError

    for bad in (0, 65):
        with pytest.raises(ConfigError, match="grounding_guard_tokens"):
            Settings(grounding_guard_tokens=bad).check()
