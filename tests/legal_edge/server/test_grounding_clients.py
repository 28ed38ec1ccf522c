"""The ``openai`` SDK and LangChain against a real grounded server (uvicorn, echo backend, the
small real statute index): they keep working unchanged, ``extra_body`` reaches the grounding
field, and ``citations`` is there for a client that looks (the SDK keeps unknown fields)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest

pytestmark = pytest.mark.slow  # builds the small index

MODEL = "echo-legal"
KEY = "grounding-key-123"
QUESTION = "刑法第二百六十四条规定的盗窃怎么处罚？"


@pytest.fixture(scope="module")
def url(small_statute_index: Path) -> Iterator[str]:  # noqa: F811
    m = echo_manifest(MODEL, ctx=4096)
    m.statutes_index = str(small_statute_index)
    rt = ModelRuntime(name=MODEL, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=4096)))
    settings = Settings(backend="echo", api_keys=(KEY,), grounding_min_score=1.0)
    with live_server(create_app(settings, runtimes=[rt])) as base:
        yield base


def test_openai_sdk_with_and_without_extra_body(url: str) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    r = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert r.choices[0].message.content.startswith("参考法条：")  # type: ignore[union-attr]
    cites = (r.model_extra or {})["citations"]
    assert cites[0]["article"] == "264" and len([c for c in cites if c["given"]]) == 3
    r = client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        extra_body={"grounding": {"k": 1}},
    )
    assert len([c for c in (r.model_extra or {})["citations"] if c["given"]]) == 1
    r = client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        extra_body={"grounding": False},
    )
    assert r.choices[0].message.content == QUESTION
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            extra_body={"grounding": {"k": 2}},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("参考法条：") and text.endswith(QUESTION)
    last = chunks[-1].model_extra or {}
    assert len([c for c in last["citations"] if c["given"]]) == 2
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            extra_body={"grounding": {"k": 99}},
        )
    assert err.value.body["param"] == "grounding.k"  # type: ignore[index]


def test_langchain_chat_openai(url: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        base_url=url + "/v1", api_key=KEY, model=MODEL, temperature=0, max_retries=0
    )
    msg = llm.invoke(QUESTION)
    assert msg.content.startswith("参考法条：") and "第二百六十四条" in msg.content
    parts = list(llm.stream(QUESTION))
    assert "".join(p.content for p in parts) == msg.content
    off = langchain_openai.ChatOpenAI(
        base_url=url + "/v1",
        api_key=KEY,
        model=MODEL,
        max_retries=0,
        extra_body={"grounding": False},
    )
    assert off.invoke(QUESTION).content == QUESTION


def test_n_choices_are_grounded_once(url: str) -> None:
    """n > 1 on a grounded model: every choice answers the same rewritten prompt; the
    response's citations once."""
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    one = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    r = client.chat.completions.create(model=MODEL, messages=messages, n=2)  # type: ignore[arg-type]
    assert [c.message.content for c in r.choices] == [one.choices[0].message.content] * 2
    assert (r.model_extra or {})["citations"] == (one.model_extra or {})["citations"]
    assert r.usage.prompt_tokens == one.usage.prompt_tokens  # type: ignore[union-attr]
    assert r.usage.completion_tokens == 2 * one.usage.completion_tokens  # type: ignore[union-attr]
