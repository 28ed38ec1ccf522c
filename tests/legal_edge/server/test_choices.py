"""``n > 1`` through the real ``openai`` SDK against a real server on the tiny GGUF (and the
echo backend): n choices, each its own sequence, the prompt computed once."""

from __future__ import annotations

import json

import openai
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.fixtures.tiny_server import tiny_server
from tests.legal_edge.helpers import echo_manifest

pytest.importorskip("llama_cpp")

QUESTION = "合同无效的情形有哪些？请逐条说明法律依据，并举出判例。" * 3
ASK = [{"role": "user", "content": QUESTION}]
CHUNK = 16  # n_batch: whole 16-token prompt chunks are shared between choices


@pytest.fixture(scope="module")
def served(tiny_gguf):
    with tiny_server(tiny_gguf, n_parallel=4, n_batch=CHUNK) as (url, name, backend):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        yield client, name, backend


def test_seeded_choices_differ_reproducibly_and_usage_adds_up(served):
    client, name, _ = served
    kw = dict(model=name, messages=ASK, n=3, temperature=1.0, seed=7, max_tokens=12)
    r = client.chat.completions.create(**kw, logprobs=True)
    assert [c.index for c in r.choices] == [0, 1, 2]
    texts = [c.message.content for c in r.choices]
    assert len(set(texts)) > 1, texts  # choice i samples with seed + i
    again = client.chat.completions.create(**kw)
    assert [c.message.content for c in again.choices] == texts  # a seeded request repeats
    one = client.chat.completions.create(**{**kw, "n": 1})
    assert r.usage.prompt_tokens == one.usage.prompt_tokens  # the prompt counted once
    per_choice = [len(c.logprobs.content) for c in r.choices]  # one entry per token
    assert r.usage.completion_tokens == sum(per_choice)
    assert r.usage.total_tokens == r.usage.prompt_tokens + sum(per_choice)
    for c, n_tokens in zip(r.choices, per_choice, strict=True):
        assert c.finish_reason == ("length" if n_tokens == 12 else "stop")


def test_greedy_choices_are_identical_streamed_alike(served):
    client, name, _ = served
    kw = dict(model=name, messages=ASK, n=3, temperature=0, max_tokens=10)
    r = client.chat.completions.create(**kw)
    texts = [c.message.content for c in r.choices]
    assert len(texts) == 3 and len(set(texts)) == 1 and texts[0]
    assembled = {0: "", 1: "", 2: ""}
    finish = {}
    usage = None
    for chunk in client.chat.completions.create(
        **kw, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            assembled[c.index] += c.delta.content or ""
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    assert list(assembled.values()) == texts
    assert finish == {i: c.finish_reason for i, c in enumerate(r.choices)}
    assert usage.completion_tokens == r.usage.completion_tokens
    assert usage.prompt_tokens == r.usage.prompt_tokens


def test_completions_n_streamed_and_not(served):
    client, name, _ = served
    kw = dict(model=name, prompt="the court held that", n=2, temperature=0, max_tokens=8)
    r = client.completions.create(**kw)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.choices[0].text == r.choices[1].text
    parts = {0: "", 1: ""}
    for chunk in client.completions.create(**kw, stream=True):
        for c in chunk.choices:
            parts[c.index] += c.text
    assert list(parts.values()) == [c.text for c in r.choices]


def test_the_prompt_is_computed_once(served):
    """The other choices copy the first one's whole prompt chunks (llama_memory_seq_cp): the
    engine decodes the prompt about once, not n times."""
    client, name, backend = served
    engine = backend._engine

    def prefill(first_word: str, n: int) -> int:
        before = engine.prefill_tokens
        client.chat.completions.create(
            model=name,
            messages=[{"role": "user", "content": first_word + QUESTION}],
            n=n,
            temperature=0,
            max_tokens=2,
        )
        return engine.prefill_tokens - before

    alone = prefill("甲", 1)  # a fresh first word: no finished slot holds this prompt
    three = prefill("乙", 3)
    assert alone > 2 * CHUNK
    # recomputed, three would be 3 * alone; shared, only each copy's last partial chunk repeats
    assert three <= alone + 2 * CHUNK, (alone, three)


def test_n_is_bounded(served):
    client, name, _ = served
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=name, messages=ASK, n=9, max_tokens=2)
    assert "n" in str(exc.value)


def test_echo_backend_n_copies_and_the_slot_bound():
    opts = BackendOptions(n_ctx=256, n_parallel=1, max_queue=2)
    app = create_app(
        Settings(backend="echo"), backend=EchoBackend(echo_manifest("echo-model", 256), opts)
    )
    with live_server(app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        r = client.chat.completions.create(
            model="echo-model", messages=[{"role": "user", "content": "hello"}], n=3
        )
        assert [c.index for c in r.choices] == [0, 1, 2]
        assert len({c.message.content for c in r.choices}) == 1
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(
                model="echo-model", messages=[{"role": "user", "content": "hello"}], n=4
            )
        assert exc.value.param == "n" and "n_parallel 1 + max_queue 2" in exc.value.message


def test_every_choice_follows_the_schema(served):
    client, name, _ = served
    schema = {
        "type": "object",
        "properties": {"party": {"type": "string", "maxLength": 12}},
        "required": ["party"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model=name,
        messages=ASK,
        n=3,
        temperature=1.0,
        seed=3,
        max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    assert len(r.choices) == 3
    assert any(c.finish_reason == "stop" for c in r.choices), r.choices
    for c in r.choices:
        if c.finish_reason == "stop":
            assert set(json.loads(c.message.content)) == {"party"}
