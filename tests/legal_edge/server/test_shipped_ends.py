"""Issue 13: the shipped model at the server defaults ends its answers instead of looping."""

from __future__ import annotations

import openai
import pytest

from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from recipes.evaluate.loops import find_loop
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import SHIPPED, shipped_settings

pytestmark = pytest.mark.slow
MODEL = SHIPPED
# At the defaults it once wrote one clause, then ``醉酒驾驶罪是指驾驶违反酒驾管理规定，`` ~20 times.
DRUNK = "我朋友醉酒驾驶被交警查获，血液酒精含量每百毫升120毫克，会怎么处罚？请引用法条。"


@pytest.fixture(scope="module")
def client(default_base_gguf):
    # the prompt the reported loop came from, whatever this machine's speed
    settings = shipped_settings(n_parallel=2, grounding_guard=False)
    with live_server(create_app(settings), timeout=120) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)


def ask(client: openai.OpenAI, **params: object) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": DRUNK}], **params
    )


def test_the_reported_question_ends_without_a_loop(client):
    r = ask(client, temperature=0)  # no max_tokens: the server's default_max_tokens (512)
    text = r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop", text
    assert r.usage.completion_tokens < Settings().default_max_tokens
    assert find_loop(text) is None, text
    assert ask(client, temperature=0).choices[0].message.content == text  # still deterministic
