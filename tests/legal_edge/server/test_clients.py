"""Real clients against a real uvicorn server: the official ``openai`` SDK and LangChain."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.legal_edge.server.test_api import MODEL, manifest

KEY = "test-key-123456"


@pytest.fixture(scope="module")
def server_url():
    backend = EchoBackend(
        manifest(ctx=256),
        BackendOptions(n_ctx=256, n_parallel=2, max_queue=1, extra={"echo_delay_s": 0.02}),
    )
    app = create_app(Settings(backend="echo", api_keys=(KEY,)), backend=backend)
    with live_server(app) as url:
        yield url


@pytest.fixture
def client(server_url):
    return openai.OpenAI(base_url=server_url + "/v1", api_key=KEY, max_retries=0)


def test_openai_chat_non_streaming(client):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "合同 无效"}], seed=7, temperature=0
    )
    assert r.choices[0].message.content == "合同 无效"
    assert r.usage.completion_tokens == 2
    assert r.model == MODEL


def test_openai_chat_streaming_with_usage_and_stop(client):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
        stop=["three"],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two "
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_openai_completions(client):
    r = client.completions.create(model=MODEL, prompt="甲 乙 丙", max_tokens=2)
    assert r.choices[0].text == "甲 乙" and r.choices[0].finish_reason == "length"


def test_openai_typed_errors(client, server_url):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=10_000
        )
    assert exc.value.code == "context_length_exceeded"
    bad = openai.OpenAI(base_url=server_url + "/v1", api_key="wrong-key-000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert [m.id for m in client.models.list()] == [MODEL]


def test_queue_full_is_503_with_retry_after(server_url):
    # 2 running + 1 waiting fit; the 4th and later are refused at once.
    body = {"model": MODEL, "messages": [{"role": "user", "content": " ".join(["w"] * 40)}]}
    headers = {"Authorization": f"Bearer {KEY}"}

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server_url, headers=headers, timeout=30) as c:
            return list(
                await asyncio.gather(*[c.post("/v1/chat/completions", json=body) for _ in range(6)])
            )

    statuses = [r.status_code for r in asyncio.run(fire())]
    assert statuses.count(200) >= 3 and 503 in statuses, statuses
    refused = next(r for r in asyncio.run(fire()) if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "server_overloaded"


def test_health_answers_while_generating(server_url):
    """Health and metrics are served while a stream is still generating (order, not timing:
    the stream is asked for far more tokens than it can produce before the checks return)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": " ".join(["w"] * 60)}],
        "stream": True,
        "max_tokens": 100,  # 60 words at 20 ms each: still streaming when the checks return
    }

    async def run() -> None:
        async with httpx.AsyncClient(base_url=server_url, headers=headers, timeout=30) as c:
            async with c.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200
                lines = r.aiter_lines()
                await anext(lines)
                assert (await c.get("/health/ready")).status_code == 200
                scrape = await c.get("/metrics")
                assert scrape.status_code == 200
                running = [
                    line
                    for line in scrape.text.splitlines()
                    if line.startswith("legal_edge_requests_running{")
                ]
                assert running and float(running[0].rsplit(" ", 1)[1]) >= 1, running
                # the stream goes on after both answered: a content delta still comes
                rest = [line async for line in lines if line.startswith("data: {")]
                assert any('"content": "w"' in line or '"content":"w"' in line for line in rest)

    asyncio.run(run())


def test_langchain_chat_openai(server_url):
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        base_url=server_url + "/v1",
        api_key=KEY,
        model=MODEL,
        temperature=0,
        max_retries=0,
        stream_usage=True,
    )
    msg = llm.invoke("民法典 第一条")
    assert msg.content == "民法典 第一条"
    parts = list(llm.stream("租赁 合同"))
    assert "".join(p.content for p in parts) == "租赁 合同"
    assert any(p.usage_metadata for p in parts)


def test_legal_edge_chat_streams_answers_and_keeps_the_history(server_url):
    from click.testing import CliRunner

    from legal_edge.tools.chat import chat_command

    args = ["--url", server_url + "/v1", "--api-key", KEY, "--system", ""]
    result = CliRunner().invoke(chat_command, args, input="合同 无效\n第二 问\n/exit\n")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"legal-edge chat · {MODEL} · /exit to quit" in lines[0]
    assert any(line.endswith("合同 无效") for line in lines)
    assert any(line.endswith("第二 问") for line in lines)

    bad = CliRunner().invoke(chat_command, [*args[:2], "--api-key", "wrong-key"], input="/exit\n")
    assert bad.exit_code != 0 and "HTTP 401" in bad.output
