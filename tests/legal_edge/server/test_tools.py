"""Tool calling through the real ``openai`` SDK and LangChain against a real server on the tiny
GGUF: the grammar makes a random-weight model's calls well-formed, so the plumbing (prompt,
grammar, tool_calls, streamed deltas, the round trip) is what these tests judge."""

from __future__ import annotations

import json

import openai
import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.server.tools import plan, render_with_tools
from tests.fixtures.client_checks import check_bind_tools_round_trip
from tests.fixtures.tiny_server import tiny_server

pytest.importorskip("llama_cpp")
jsonschema_rs = pytest.importorskip("jsonschema_rs")

LOOKUP = {
    "type": "object",
    "properties": {
        "law": {"enum": ["民法典", "刑法", "劳动合同法"]},
        "article": {"type": "integer"},
    },
    "required": ["law", "article"],
    "additionalProperties": False,
}
FEE = {
    "type": "object",
    "properties": {"amount": {"type": "integer"}},
    "required": ["amount"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup_statute", "description": "法条原文", "parameters": LOOKUP},
    },
    {
        "type": "function",
        "function": {"name": "court_fee", "description": "诉讼费", "parameters": FEE},
    },
]
SCHEMAS = {"lookup_statute": LOOKUP, "court_fee": FEE}
ASK = [{"role": "user", "content": "民法典第一百四十三条规定了什么？"}]


@pytest.fixture(scope="module")
def served(tiny_gguf):
    with tiny_server(tiny_gguf) as (url, name, backend):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        yield client, url, name, backend


def _valid_call(call) -> dict:
    args = json.loads(call.function.arguments)
    assert jsonschema_rs.validator_for(SCHEMAS[call.function.name]).is_valid(args), args
    assert call.id.startswith("call_") and call.type == "function"
    return args


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_required_returns_a_valid_call_and_streams_the_same(served, seed):
    client, _, name, _ = served
    kw = dict(model=name, messages=ASK, tools=TOOLS, tool_choice="required", seed=seed)
    kw["temperature"] = 0 if seed == 0 else 1.0
    r = client.chat.completions.create(**kw, max_tokens=150)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    args = _valid_call(call)
    # streamed: a header delta (id, name), then the arguments in pieces
    chunks = list(client.chat.completions.create(**kw, max_tokens=150, stream=True))
    pieces = [
        c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
    ]
    assert pieces[0][0].id and pieces[0][0].function.name == call.function.name
    streamed = "".join(p[0].function.arguments or "" for p in pieces)
    assert json.loads(streamed) == args
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_named_function_is_the_one_called(served):
    client, _, name, _ = served
    r = client.chat.completions.create(
        model=name,
        messages=ASK,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "court_fee"}},
        temperature=0,
        max_tokens=150,
    )
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "court_fee"
    _valid_call(call)


def test_auto_calls_when_the_answer_opens_an_object_and_none_never_calls(served):
    client, _, name, backend = served
    brace = backend._engine.tokenize("{", add_bos=False)
    assert len(brace) == 1
    # a bias that makes the answer open with "{": the lazy grammar takes over from there
    r = client.chat.completions.create(
        model=name,
        messages=ASK,
        tools=TOOLS,
        tool_choice="auto",
        temperature=0,
        max_tokens=150,
        logit_bias={str(brace[0]): 100},
    )
    assert r.choices[0].finish_reason == "tool_calls", r.choices[0].message
    _valid_call(r.choices[0].message.tool_calls[0])
    for choice in ("auto", "none"):  # unbiased, the random model starts with text
        r = client.chat.completions.create(
            model=name,
            messages=ASK,
            tools=TOOLS,
            tool_choice=choice,
            temperature=0,
            max_tokens=12,
        )
        assert not r.choices[0].message.tool_calls
        assert r.choices[0].message.content
        assert r.choices[0].finish_reason in ("stop", "length")


def test_langchain_bind_tools_round_trip(served):
    """call -> tool result message -> final answer, through LangChain's ChatOpenAI."""
    langchain_openai = pytest.importorskip("langchain_openai")
    _, url, name, _ = served
    llm = langchain_openai.ChatOpenAI(
        base_url=url + "/v1",
        api_key="none",
        model=name,
        temperature=0,
        max_retries=0,
        max_tokens=150,
    )
    check_bind_tools_round_trip(llm)


def test_langchain_structured_output_by_function_calling(served):
    langchain_openai = pytest.importorskip("langchain_openai")
    from typing import Literal

    from pydantic import BaseModel

    class Citation(BaseModel):
        law: Literal["民法典", "刑法"]
        article: int

    _, url, name, _ = served
    llm = langchain_openai.ChatOpenAI(
        base_url=url + "/v1",
        api_key="none",
        model=name,
        temperature=0,
        max_retries=0,
        max_tokens=150,
    )
    out = llm.with_structured_output(Citation, method="function_calling").invoke("民法典第五条")
    assert isinstance(out, Citation)


def _req(**kw) -> ChatCompletionRequest:
    import msgspec

    return msgspec.convert({"model": "m", "messages": ASK, **kw}, ChatCompletionRequest)


def test_generic_rendering_lists_tools_and_replays_the_turns():
    req = _req(tools=TOOLS)
    history = [
        {"role": "user", "content": "标的额 5000 元"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "court_fee", "arguments": '{"amount": 5000}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "50 元"},
    ]
    prompt = render_with_tools(GEMMA_CHAT_TEMPLATE, history, plan(req))
    assert '"name": "lookup_statute"' in prompt and '"name": "court_fee"' in prompt
    assert '<start_of_turn>model\n{"name": "court_fee", "arguments": {"amount": 5000}}' in prompt
    assert "Result of court_fee: 50 元" in prompt
    # a template that knows tools gets them and the calls as objects, rendered its own way
    own = (
        "{% for t in tools %}[{{ t.function.name }}]{% endfor %}"
        "{% for m in messages %}{% for c in m.tool_calls or [] %}"
        "<call {{ c.function.name }} {{ c.function.arguments.amount }}>{% endfor %}{% endfor %}"
    )
    prompt = render_with_tools(own, history, plan(req))
    assert prompt == "[lookup_statute][court_fee]<call court_fee 5000>"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": TOOLS + TOOLS[:1]}, "tools"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"n": {"type": "integer", "maximum": 3}},
                            },
                        },
                    }
                ]
            },
            "tools",
        ),
    ],
)
def test_bad_tool_requests_are_400_naming_the_field(served, fields, param):
    _, url, name, _ = served
    import httpx

    r = httpx.post(url + "/v1/chat/completions", json={"model": name, "messages": ASK, **fields})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
