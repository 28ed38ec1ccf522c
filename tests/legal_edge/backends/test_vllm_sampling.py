"""The vLLM backend's structured output, tools, logprobs, logit_bias and n (issue 17).

Fast: the mapping (``legal_edge.backends.vllm.sampling``) on its own. Slow (CI too, like the
other vLLM tests): the real ``openai`` SDK against the session's real vLLM-backed server on
Gemma-3-270M (``tests/fixtures/vllm_server.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import openai
import pytest

from legal_edge.backends.base import OBJECT_TRIGGER, InvalidRequest, SamplingParams
from legal_edge.backends.vllm.sampling import (
    MAX_WHITESPACE,
    NUMBER_BOUND,
    bounded_numbers,
    constraint_kwargs,
    prompt_logprobs,
    structural_tag,
    token_logprobs,
)
from tests.conftest import MODELS_DIR
from tests.fixtures.client_checks import check_bind_tools_round_trip, check_json_object_answers
from tests.fixtures.ruling import QUESTION, RULING_SCHEMA, Ruling
from tests.fixtures.vllm_server import HF_MODEL

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_statute",
        "description": "Find an article of a Chinese statute",
        "parameters": {
            "type": "object",
            "properties": {
                "law": {"type": "string", "maxLength": 8},
                "article": {"type": "integer"},
            },
            "required": ["law", "article"],
            "additionalProperties": False,
        },
    },
}


# -- fast: the mapping -----------------------------------------------------------------------


def test_schema_becomes_a_structural_tag_with_bounded_blanks():
    schema = json.dumps(RULING_SCHEMA)
    assert structural_tag(SamplingParams()) is None
    tag = json.loads(structural_tag(SamplingParams(json_schema=schema)))
    assert tag["format"]["type"] == "json_schema"
    sent = tag["format"]["json_schema"]
    # numbers get llama.cpp's 16 digits: a greedy tiny model writes 1000... otherwise
    assert sent["properties"].pop("amount") == {
        "type": "integer",
        "minimum": -NUMBER_BOUND,
        "maximum": NUMBER_BOUND,
    }
    assert sent["properties"] == {
        k: v for k, v in RULING_SCHEMA["properties"].items() if k != "amount"
    }
    nested = {"anyOf": [{"type": ["number", "null"]}, {"type": "integer", "maximum": 3}]}
    assert bounded_numbers(nested) == {
        "anyOf": [
            {"type": ["number", "null"], "minimum": -NUMBER_BOUND, "maximum": NUMBER_BOUND},
            {"type": "integer", "maximum": 3},
        ]
    }
    assert tag["format"]["max_whitespace_cnt"] == MAX_WHITESPACE
    lazy = json.loads(
        structural_tag(SamplingParams(json_schema=schema, grammar_triggers=(OBJECT_TRIGGER,)))
    )
    call, text = lazy["format"]["elements"]
    assert call["elements"][1]["json_schema"] == bounded_numbers(RULING_SCHEMA)
    assert "{" in text["elements"][0]["pattern"] and text["elements"][1]["type"] == "any_text"
    with pytest.raises(InvalidRequest) as info:
        structural_tag(SamplingParams(json_schema=schema, grammar_triggers=("^x",)))
    assert info.value.param == "tools"


@dataclass
class _Logprob:  # vLLM's Logprob: what token_logprobs reads
    logprob: float
    rank: int


def test_token_logprobs_rank_the_alternatives_and_keep_the_sampled_token():
    def piece(t: int) -> bytes:
        return {1: b"a", 2: b"b", 3: b"c", 4: b"\xe5"}[t]

    # the sampled token 3 is outside the top 2: vLLM adds it with its own rank
    position = {3: _Logprob(-3.0, 3), 2: _Logprob(-0.5, 1), 1: _Logprob(-1.2, 2)}
    (entry,) = token_logprobs([3], [position], 2, piece)
    assert (entry.text, entry.data, entry.logprob) == ("c", b"c", -3.0)
    assert [(t, lp) for t, _, lp in entry.top] == [("b", -0.5), ("a", -1.2)]
    (entry,) = token_logprobs([4], [{4: _Logprob(-0.1, 1)}], 0, piece)
    assert entry.text == "\ufffd" and entry.data == b"\xe5" and entry.top == ()
    assert token_logprobs([1], None, 2, piece) == ()


def test_prompt_logprobs_open_with_none_and_follow_the_prompt():
    def piece(t: int) -> bytes:
        return {1: b"<bos>", 2: b"a", 3: b"b"}[t]

    got = prompt_logprobs(
        [1, 2, 3], [None, {2: _Logprob(-2.0, 4)}, {3: _Logprob(-0.3, 1)}], 0, piece
    )
    assert [(e.text, e.logprob) for e in got] == [("<bos>", None), ("a", -2.0), ("b", -0.3)]
    with pytest.raises(RuntimeError, match="2 prompt logprobs for 3 tokens"):
        prompt_logprobs([1, 2, 3], [None, {2: _Logprob(-2.0, 4)}], 0, piece)
    # vLLM is asked for the prompt token's own logprob plus top_logprobs alternatives
    asked = constraint_kwargs(SamplingParams(prompt_logprobs=True, top_logprobs=2), 10)
    assert asked["prompt_logprobs"] == 2
    assert "prompt_logprobs" not in constraint_kwargs(SamplingParams(top_logprobs=2), 10)


# -- slow: the real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(vllm_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm_url + "/v1", api_key="unused", max_retries=0, timeout=300)


def _validator(schema: dict):
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    return jsonschema_rs.validator_for(schema)


def _messages(text: str = QUESTION) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.slow
def test_json_schema_strict_output_validates(client: openai.OpenAI):
    validator = _validator(RULING_SCHEMA)
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": RULING_SCHEMA}}
    fmt["json_schema"]["strict"] = True
    for temperature, seed in ((0.0, 0), (1.0, 1), (1.5, 2)):
        r = client.chat.completions.create(
            model=HF_MODEL,
            messages=_messages(),
            response_format=fmt,
            temperature=temperature,
            seed=seed,
            max_tokens=200,
        )
        choice = r.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        validator.validate(json.loads(choice.message.content))
    # parse() with a pydantic model, and json_object
    parsed = client.chat.completions.parse(
        model=HF_MODEL, messages=_messages(), response_format=Ruling, temperature=0, max_tokens=200
    )
    assert isinstance(parsed.choices[0].message.parsed, Ruling)
    # json_object: an object that parses strictly once it ends; a cut-off says so
    check_json_object_answers(client, HF_MODEL)


@pytest.mark.slow
def test_streamed_schema_answer_validates(client: openai.OpenAI):
    validator = _validator(RULING_SCHEMA)
    stream = client.chat.completions.create(
        model=HF_MODEL,
        messages=_messages(),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": RULING_SCHEMA},
        },
        temperature=1.0,
        seed=7,
        max_tokens=200,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    validator.validate(json.loads(text))


@pytest.mark.slow
def test_an_unsupported_schema_keyword_is_the_same_400_as_on_llamacpp(vllm_url: str):
    schema = {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 0}}}
    r = httpx.post(
        vllm_url + "/v1/chat/completions",
        timeout=60,
        json={
            "model": HF_MODEL,
            "messages": _messages(),
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": schema},
            },
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "unsupported_schema"
    assert "properties.amount.minimum" in r.json()["error"]["message"]


@pytest.mark.slow
def test_a_named_tool_call_has_valid_arguments(client: openai.OpenAI):
    validator = _validator(LOOKUP["function"]["parameters"])
    for choice_ in ({"type": "function", "function": {"name": "lookup_statute"}}, "required"):
        for temperature, seed in ((0.0, 0), (1.0, 3)):
            r = client.chat.completions.create(
                model=HF_MODEL,
                messages=_messages("查一下民法典第一千零八十四条。"),
                tools=[LOOKUP],
                tool_choice=choice_,
                temperature=temperature,
                seed=seed,
                max_tokens=120,
            )
            choice = r.choices[0]
            assert choice.finish_reason == "tool_calls", choice.message
            (call,) = choice.message.tool_calls
            assert call.function.name == "lookup_statute"
            validator.validate(json.loads(call.function.arguments))


@pytest.mark.slow
def test_tool_choice_auto_answers_text_or_a_valid_call(client: openai.OpenAI):
    validator = _validator(LOOKUP["function"]["parameters"])
    for seed in range(3):
        r = client.chat.completions.create(
            model=HF_MODEL,
            messages=_messages("查一下民法典第一千零八十四条。"),
            tools=[LOOKUP],
            temperature=1.0,
            seed=seed,
            max_tokens=80,
        )
        message = r.choices[0].message
        if message.tool_calls:
            validator.validate(json.loads(message.tool_calls[0].function.arguments))
        else:
            assert message.content and not message.content.lstrip().startswith("{")


@pytest.mark.slow
def test_logprobs_are_consistent(client: openai.OpenAI):
    r = client.chat.completions.create(
        model=HF_MODEL,
        messages=_messages("What is a contract?"),
        logprobs=True,
        top_logprobs=3,
        temperature=0,
        max_tokens=16,
    )
    choice = r.choices[0]
    entries = choice.logprobs.content
    assert len(entries) == r.usage.completion_tokens
    assert b"".join(bytes(e.bytes) for e in entries).decode() == choice.message.content
    for e in entries:
        assert e.logprob <= 0
        tops = [t.logprob for t in e.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True) and tops[0] <= 0
        # greedy, no bias: the chosen token is the model's most likely one
        assert e.token == e.top_logprobs[0].token and e.logprob == pytest.approx(tops[0])
    # the legacy completions shape, streamed: the same tokens as the text
    stream = client.completions.create(
        model=HF_MODEL,
        prompt="The court held that",
        logprobs=2,
        temperature=0,
        max_tokens=8,
        stream=True,
    )
    text, tokens = "", []
    for chunk in stream:
        text += chunk.choices[0].text
        if chunk.choices[0].logprobs:
            tokens += chunk.choices[0].logprobs.tokens
            assert all(len(t) <= 2 for t in chunk.choices[0].logprobs.top_logprobs)
    assert text and "".join(tokens) == text


@pytest.mark.slow
def test_logit_bias_bans_and_forces_tokens(client: openai.OpenAI):
    tokenizer = pytest.importorskip("transformers").AutoTokenizer.from_pretrained(
        MODELS_DIR / HF_MODEL
    )

    def answer(bias: dict[str, int]) -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(
            model=HF_MODEL,
            messages=_messages("What is a contract?"),
            logprobs=True,
            temperature=0,
            max_tokens=8,
            logit_bias=bias,
        )

    free = answer({})
    first = bytes(free.choices[0].logprobs.content[0].bytes).decode()
    ids = tokenizer.encode(first, add_special_tokens=False)
    assert len(ids) == 1 and tokenizer.decode(ids) == first
    banned = answer({str(ids[0]): -100})
    texts = [bytes(e.bytes).decode(errors="replace") for e in banned.choices[0].logprobs.content]
    assert texts[0] != first and first not in texts
    # +100 on one token: the greedy answer is that token only
    forced_id = tokenizer.encode(" court", add_special_tokens=False)[-1]
    forced = answer({str(forced_id): 100})
    assert forced.choices[0].message.content.split() == ["court"] * 8 or set(
        e.token for e in forced.choices[0].logprobs.content
    ) == {tokenizer.decode([forced_id])}
    # an id outside the vocabulary is a 400 naming the field
    with pytest.raises(openai.BadRequestError) as info:
        answer({str(len(tokenizer) + 10**6): 5})
    assert info.value.body["param"] == "logit_bias"


@pytest.mark.slow
def test_n_gives_n_choices(client: openai.OpenAI):
    r = client.chat.completions.create(
        model=HF_MODEL,
        messages=_messages("What is a contract?"),
        n=2,
        temperature=1.0,
        seed=5,
        max_tokens=12,
    )
    assert sorted(c.index for c in r.choices) == [0, 1]
    assert all(c.message.content for c in r.choices)
    assert r.usage.completion_tokens <= 24 and r.usage.completion_tokens >= 2
    # streamed, with a schema on both choices
    validator = _validator(RULING_SCHEMA)
    texts = {0: "", 1: ""}
    for chunk in client.chat.completions.create(
        model=HF_MODEL,
        messages=_messages(),
        n=2,
        temperature=1.0,
        seed=6,
        max_tokens=200,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": RULING_SCHEMA},
        },
        stream=True,
    ):
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
    for text in texts.values():
        validator.validate(json.loads(text))


@pytest.mark.slow
def test_langchain_structured_output_and_bind_tools(vllm_url: str):
    """LangChain unchanged on vLLM: with_structured_output (json_schema, function_calling) and
    the bind_tools round trip (call, tool result, final answer)."""
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        base_url=vllm_url + "/v1",
        api_key="unused",
        model=HF_MODEL,
        temperature=0,
        max_retries=0,
        max_tokens=150,
        timeout=300,
    )
    for method in ("json_schema", "function_calling"):
        assert isinstance(
            llm.with_structured_output(Ruling, method=method).invoke(QUESTION), Ruling
        )

    check_bind_tools_round_trip(llm)


@pytest.mark.slow
def test_echo_scores_the_prompt_as_generation_scored_its_tokens(client: openai.OpenAI):
    """echo + logprobs + max_tokens 0 (how lm-evaluation-harness scores through a server): the
    prompt's own logprobs; scoring prompt + a greedy answer gives the answer's tokens the
    logprobs generation gave them."""
    prompt = "The court held that the contract was"
    gen = client.completions.create(
        model=HF_MODEL, prompt=prompt, max_tokens=4, temperature=0, logprobs=1
    )
    answer = gen.choices[0]
    scored = client.completions.create(
        model=HF_MODEL, prompt=prompt + answer.text, echo=True, logprobs=1, max_tokens=0
    )
    choice, lp = scored.choices[0], scored.choices[0].logprobs
    assert choice.text == prompt + answer.text and scored.usage.completion_tokens == 0
    assert len(lp.tokens) == scored.usage.prompt_tokens and lp.token_logprobs[0] is None
    assert all(x <= 0 for x in lp.token_logprobs[1:])
    assert "".join(lp.tokens[1:]) == prompt + answer.text  # the BOS first, then the text
    n = len(answer.logprobs.tokens)
    assert lp.tokens[-n:] == answer.logprobs.tokens
    assert lp.token_logprobs[-n:] == pytest.approx(answer.logprobs.token_logprobs, abs=0.15)
