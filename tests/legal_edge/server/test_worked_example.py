"""The worked legal example of docs/api.md: a real judgment from the visible data, the schema
in docs/examples/judgment_schema.json, a real server on the tiny GGUF; the answer validates."""

from __future__ import annotations

import json

import openai
import pytest

from bench.api_breadth import SCHEMA, extract_messages, judgment
from tests.conftest import REPO
from tests.fixtures.tiny_server import tiny_server

pytest.importorskip("llama_cpp")
jsonschema_rs = pytest.importorskip("jsonschema_rs")


def test_judgment_to_schema_on_the_tiny_model(tiny_gguf, legal_data):
    case = judgment(0)
    assert "诉讼请求" in case and "判决" in case  # the real case, cut to its sections
    assert "docs/examples/judgment_schema.json" in (REPO / "docs/api.md").read_text()
    with tiny_server(tiny_gguf, n_parallel=1, n_ctx=4096) as (url, name, _):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        r = client.chat.completions.create(
            model=name,
            messages=extract_messages(case),
            temperature=0,
            max_tokens=1300,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "judgment", "schema": SCHEMA},
            },
        )
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    answer = json.loads(choice.message.content)
    assert jsonschema_rs.validator_for(SCHEMA).is_valid(answer), answer
