"""logprobs / top_logprobs, logit_bias and echo through the real ``openai`` SDK against a real
server on the tiny GGUF (the prompt's own logprobs: ``test_prompt_logprobs.py``)."""

from __future__ import annotations

import math

import httpx
import openai
import pytest

from tests.fixtures.tiny_server import tiny_server

pytest.importorskip("llama_cpp")

ASK = [{"role": "user", "content": "合同无效的情形有哪些？"}]


@pytest.fixture(scope="module")
def served(tiny_gguf):
    with tiny_server(tiny_gguf) as (url, name, backend):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        yield client, url, name, backend


def test_chat_logprobs_are_the_models_distribution_streamed_alike(served):
    client, _, name, _ = served
    kw = dict(model=name, messages=ASK, temperature=0, max_tokens=12, logprobs=True)
    r = client.chat.completions.create(**kw, top_logprobs=5)
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens
    for e in entries:
        tops = [t.logprob for t in e.top_logprobs]
        assert len(tops) == 5 and tops == sorted(tops, reverse=True)
        assert sum(math.exp(t) for t in tops) <= 1.0 + 1e-6
        # greedy: the chosen token is the most likely one
        assert e.logprob == pytest.approx(tops[0]) and e.token == e.top_logprobs[0].token
        assert bytes(e.bytes).decode("utf-8", errors="replace") == e.token
    assert (
        b"".join(bytes(e.bytes) for e in entries).decode(errors="replace")
        == r.choices[0].message.content
    )
    chunks = list(client.chat.completions.create(**kw, top_logprobs=5, stream=True))
    streamed = [
        e
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content
    ]
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == [
        (e.token, round(e.logprob, 4)) for e in entries
    ]
    bare = client.chat.completions.create(**kw)  # logprobs without top_logprobs
    assert all(e.top_logprobs == [] for e in bare.choices[0].logprobs.content)
    plain = client.chat.completions.create(model=name, messages=ASK, max_tokens=4)
    assert plain.choices[0].logprobs is None


def test_completion_logprobs_shape_and_echo(served):
    client, _, name, _ = served
    r = client.completions.create(
        model=name, prompt="the court held that", max_tokens=8, temperature=0, logprobs=3
    )
    lp = r.choices[0].logprobs
    n = r.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == n > 0
    assert "".join(lp.tokens) == r.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(n)]
    for tok, chosen, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert len(top) == 3 and max(top.values()) == pytest.approx(chosen) and tok in top
    echoed = client.completions.create(
        model=name, prompt="the court held that", max_tokens=8, temperature=0, echo=True
    )
    assert echoed.choices[0].text == "the court held that" + r.choices[0].text
    streamed = client.completions.create(
        model=name,
        prompt="the court held that",
        max_tokens=8,
        temperature=0,
        echo=True,
        stream=True,
    )
    assert "".join(c.choices[0].text for c in streamed) == echoed.choices[0].text


def test_logit_bias_forces_and_forbids_tokens(served):
    client, url, name, backend = served
    court = backend._engine.tokenize(" court", add_bos=False)[0]
    piece = backend._engine.piece(court).decode()
    base = client.completions.create(model=name, prompt="the", max_tokens=6, temperature=0)
    forced = client.completions.create(
        model=name, prompt="the", max_tokens=6, temperature=0, logit_bias={str(court): 100}
    )
    assert forced.choices[0].text == piece * 6 != base.choices[0].text
    engine = backend._engine
    lead = (
        client.completions.create(model=name, prompt="the", max_tokens=1, temperature=0, logprobs=1)
        .choices[0]
        .logprobs.tokens[0]
    )
    same = [t for t in range(engine.n_vocab) if engine.piece(t).decode(errors="replace") == lead]
    banned = client.completions.create(
        model=name,
        prompt="the",
        max_tokens=6,
        temperature=0,
        logit_bias={str(t): -100 for t in same},
        logprobs=1,
    )
    assert banned.choices[0].logprobs.tokens[0] != lead
    assert banned.choices[0].text != base.choices[0].text
    for bias, message in (
        ({"999999999": 1}, "vocabulary"),
        ({"x": 1}, "token ids"),
        ({"5": 300}, "-100..100"),
    ):
        r = httpx.post(
            url + "/v1/completions",
            json={"model": name, "prompt": "the", "max_tokens": 2, "logit_bias": bias},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias", r.text
        assert message in r.json()["error"]["message"]


def test_bad_logprob_requests_are_400(served):
    _, url, name, _ = served
    for route, body, param in (
        ("chat/completions", {"messages": ASK, "top_logprobs": 3}, "top_logprobs"),
        ("completions", {"prompt": "x", "max_tokens": 0}, "max_tokens"),  # 0 needs echo
        ("chat/completions", {"messages": ASK, "max_tokens": 0}, "max_tokens"),
    ):
        r = httpx.post(f"{url}/v1/{route}", json={"model": name, **body})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
