"""The same answer every time at temperature 0, through the official `openai` client.

A lawyer who repeats a question, or an evaluation run against the server, must get the same
text whatever ran before it: alone, after the same prompt (its KV cache is reused), after a
longer prompt sharing a prefix, streamed or not. On the shipped model a reused prefix that was
computed in other pieces rounded differently and changed the answer.

In company, llama.cpp's batched CPU kernels round differently with the batch (measured on the
shipped model: 0 of 8 concurrent answers equal to the lone one with repacking, 3 of 8 without),
so exact answers under load need ``batch_invariant: true`` (one sequence per llama.cpp call).
The server here runs with it; a lone request takes the same path either way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from legal_edge.backends.llamacpp.backend import LlamaCppBackend
from legal_edge.server.app import create_app, load_runtime
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import shipped_settings

pytestmark = pytest.mark.slow
QUESTION = "合同无效的法律后果是什么？"
# Long enough to span whole prompt chunks (the part a later request may reuse).
CONTEXT = (
    "《中华人民共和国民法典》第一百五十五条规定，无效的或者被撤销的民事法律行为自始没有法律约束力。"
    "第一百五十七条规定，民事法律行为无效、被撤销或者确定不发生效力后，行为人因该行为取得的财产，"
    "应当予以返还；不能返还或者没有必要返还的，应当折价补偿。有过错的一方应当赔偿对方由此所受到的损失；"
    "各方都有过错的，应当各自承担相应的责任。"
) * 6


@pytest.fixture(scope="module")
def served(default_base_gguf):
    settings = shipped_settings(
        n_parallel=4,
        n_ctx=2048,
        batch_invariant=True,
        # one sequence per question with its whole prompt: what the engine's reuse is about
        grounding_guard=False,
    )
    runtime = load_runtime(settings)
    with live_server(create_app(settings, runtimes=[runtime]), timeout=300) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0), runtime


def ask(client: openai.OpenAI, content: str, stream: bool = False, tokens: int = 48) -> str:
    kwargs = dict(
        model="legal-gemma3-270m",
        temperature=0,
        max_tokens=tokens,
        messages=[{"role": "user", "content": content}],
    )
    if not stream:
        return client.chat.completions.create(**kwargs).choices[0].message.content or ""
    parts = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(stream=True, **kwargs)
        if c.choices
    ]
    return "".join(parts)


def test_same_question_same_answer_streamed_or_not(served):
    client, _ = served
    first = ask(client, QUESTION)
    assert first
    assert ask(client, QUESTION, stream=True) == first  # reuses the first one's cache
    assert ask(client, QUESTION) == first


def test_reused_prefix_keeps_the_answer(served):
    client, runtime = served
    backend = runtime.backend
    assert isinstance(backend, LlamaCppBackend)
    long_q = CONTEXT + "\n\n" + QUESTION
    alone = ask(client, long_q)
    engine = backend._engine
    assert engine is not None
    before = engine.reused_tokens
    again = ask(client, long_q, stream=True)
    assert engine.reused_tokens > before, "the second request should reuse whole chunks"
    assert again == alone
    # after a longer prompt that shares the prefix, then in company
    ask(client, long_q + "请详细说明返还财产的范围。")
    assert ask(client, long_q) == alone
    with ThreadPoolExecutor(4) as pool:
        others = [pool.submit(ask, client, q) for q in ("什么是不可抗力？", "What is a tort?")]
        mine = pool.submit(ask, client, long_q)
        assert mine.result() == alone
        [o.result() for o in others]
