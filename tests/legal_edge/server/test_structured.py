"""Structured output through the real ``openai`` SDK and LangChain against a real server on the
tiny GGUF: the grammar makes even a random-weight model answer in the schema."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from legal_edge.server.structured import SchemaError, schema_grammar
from tests.fixtures.client_checks import check_json_object_answers
from tests.fixtures.ruling import QUESTION, RULING_SCHEMA, Ruling
from tests.fixtures.tiny_server import tiny_server
from tests.legal_edge.helpers import client as echo_client

pytest.importorskip("llama_cpp")
jsonschema_rs = pytest.importorskip("jsonschema_rs")


@pytest.fixture(scope="module")
def served(tiny_gguf):
    with tiny_server(tiny_gguf) as (url, name, _):
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0), url, name


def _schema_format(schema: dict) -> dict:
    return {
        "type": "json_schema",
        "json_schema": {"name": "ruling", "schema": schema, "strict": True},
    }


def test_parse_with_a_pydantic_model_at_several_temperatures(served):
    client, _, name = served
    for temperature, seed in ((0.0, 0), (1.0, 1), (1.0, 2), (1.5, 3)):
        r = client.chat.completions.parse(
            model=name,
            messages=[{"role": "user", "content": QUESTION}],
            response_format=Ruling,
            temperature=temperature,
            seed=seed,
            max_tokens=200,
        )
        choice = r.choices[0]
        assert choice.finish_reason == "stop"
        assert isinstance(choice.message.parsed, Ruling)
        assert Ruling.model_validate_json(choice.message.content) == choice.message.parsed


def test_json_schema_streamed_and_in_one_batch_with_other_schemas(served):
    """Each sequence follows its own grammar inside the same llama_decode batch."""
    client, _, name = served
    other = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}

    def ask(i: int) -> tuple[dict, str, str | None]:
        schema = RULING_SCHEMA if i % 2 == 0 else other
        stream = client.chat.completions.create(
            model=name,
            messages=[{"role": "user", "content": f"{QUESTION} ({i})"}],
            response_format=_schema_format(schema),
            temperature=1.0,
            seed=i,
            max_tokens=200,
            stream=True,
        )
        parts, reason = [], None
        for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                reason = chunk.choices[0].finish_reason or reason
        return schema, "".join(parts), reason

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(ask, range(6)))
    for schema, text, reason in results:
        assert reason == "stop", text
        assert jsonschema_rs.validator_for(schema).is_valid(json.loads(text)), text


def test_json_object_answers_parse_strictly(served):
    """``json_object``: a JSON object, no raw control characters inside strings (strict JSON)."""
    client, _, name = served
    check_json_object_answers(client, name)


def test_max_tokens_cut_off_is_length_and_parse_refuses_it(served):
    client, _, name = served
    r = client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": QUESTION}],
        response_format=_schema_format(RULING_SCHEMA),
        temperature=0,
        max_tokens=3,
    )
    assert r.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.choices[0].message.content)
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(
            model=name,
            messages=[{"role": "user", "content": QUESTION}],
            response_format=Ruling,
            max_tokens=3,
        )


@pytest.mark.parametrize("method", [None, "json_schema"])
def test_langchain_with_structured_output(served, method):
    langchain_openai = pytest.importorskip("langchain_openai")
    _, url, name = served
    llm = langchain_openai.ChatOpenAI(
        base_url=url + "/v1", api_key="none", model=name, temperature=0, max_retries=0
    )
    kwargs = {} if method is None else {"method": method}
    ruling = llm.with_structured_output(Ruling, **kwargs).invoke(QUESTION)
    assert isinstance(ruling, Ruling)


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        (
            {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 0}}},
            "$.properties.amount.minimum",
        ),
        ({"type": "string", "format": "email"}, "$.format"),
        ({"type": "object", "patternProperties": {"^a": {}}}, "$.patternProperties"),
        ({"$ref": "https://example.com/schema.json"}, "$.$ref"),
        ({"type": "array", "items": {"type": "decimal"}}, "$.items.type"),
    ],
)
def test_unsupported_schema_features_are_400_naming_them(schema, where):
    with pytest.raises(SchemaError) as info:
        schema_grammar(schema)
    assert info.value.where == where
    with echo_client(None) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "echo-model",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": _schema_format(schema),
            },
        )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "unsupported_schema"
    assert err["param"] == "response_format.json_schema.schema"
    assert where[1:] in err["message"]


def test_each_backend_gets_the_schema_in_the_form_it_enforces():
    """llama.cpp (and echo) a GBNF grammar made from the schema; vLLM the JSON schema itself;
    a backend without the feature a 400 naming the field instead of unconstrained text."""
    from legal_edge.backends.base import SamplingParams
    from legal_edge.backends.echo import EchoBackend
    from legal_edge.backends.vllm.backend import VLLMBackend
    from legal_edge.server.constraints import fit_to_backend
    from legal_edge.server.errors import APIError

    schema = json.dumps(RULING_SCHEMA)
    asked = SamplingParams(json_schema=schema, top_logprobs=2, logit_bias=((5, -100.0),))
    vllm = VLLMBackend.__new__(VLLMBackend)  # no model needed to ask what it supports
    assert fit_to_backend(asked, vllm) == asked  # no grammar made: vLLM enforces the schema
    echo = EchoBackend.__new__(EchoBackend)
    grammar = fit_to_backend(asked, echo).grammar
    assert grammar == schema_grammar(RULING_SCHEMA) and "root ::=" in grammar
    assert fit_to_backend(SamplingParams(), echo) == SamplingParams()

    class Plain:  # a backend with no features
        pass

    for params, field in (
        (SamplingParams(json_schema=schema), "tools"),
        (SamplingParams(grammar='root ::= "x"'), "tools"),
        (SamplingParams(top_logprobs=0), "logprobs"),
        (SamplingParams(logit_bias=((1, 5.0),)), "logit_bias"),
    ):
        with pytest.raises(APIError) as info:
            fit_to_backend(params, Plain(), "tools")
        assert info.value.status == 400 and info.value.param == field
        assert "Plain" in info.value.message
    with pytest.raises(APIError) as info:  # a raw grammar: vLLM takes schemas only
        fit_to_backend(SamplingParams(grammar='root ::= "x"'), vllm)
    assert info.value.param == "response_format"
