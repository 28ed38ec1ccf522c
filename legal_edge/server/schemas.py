"""Request bodies of the OpenAI-compatible API (msgspec: validated by Litestar, in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct


def stated(**schema: Any) -> Meta:
    """A constraint stated in the served OpenAPI schema, so clients and fuzzers see the contract
    that ``generation.prepare`` enforces in code (with its own message naming the field)."""
    return Meta(extra_json_schema={"extra": schema})


# Litestar drops a bound of zero from the OpenAPI schema (a falsy value): restated as extra.
Temperature = Annotated[float, Meta(ge=0.0, le=2.0, extra_json_schema={"extra": {"minimum": 0.0}})]
TopP = Annotated[
    float, Meta(gt=0.0, le=1.0, extra_json_schema={"extra": {"exclusiveMinimum": 0.0}})
]
MaxTokens = Annotated[int, Meta(ge=1)]
Penalty = Annotated[float, Meta(ge=-2.0, le=2.0)]


class ContentPart(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["text"])]  # only text parts
    text: str


class ChatMessage(Struct, kw_only=True):
    role: Annotated[str, stated(enum=["system", "developer", "user", "assistant"])]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(Struct, kw_only=True):
    include_usage: bool = False


class ResponseFormat(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["text"])] = "text"  # plain text answers only


class _Sampling(Struct, kw_only=True):
    model: str
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    n: Annotated[int, Meta(ge=1, le=1)] = 1  # one choice per request
    stream: bool = False
    stream_options: StreamOptions | None = None
    # a non-empty string, or up to 8 of them (outer minLength/items apply to one form each)
    stop: (
        Annotated[
            str | list[str],
            stated(minLength=1, maxItems=8, items={"type": "string", "minLength": 1}),
        ]
        | None
    ) = None
    seed: int | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: Annotated[bool, stated(enum=[False, None])] | None = None  # not supported
    logit_bias: Annotated[dict[str, float], stated(maxProperties=0)] | None = None
    user: str | None = None


class GroundingOptions(Struct, kw_only=True, forbid_unknown_fields=True):
    """Extension field ``grounding`` (openai SDK: ``extra_body``): retrieval for this request."""

    enabled: bool = True  # false: no articles retrieved (citations in the answer still checked)
    k: Annotated[int, Meta(ge=0, le=10)] | None = None  # articles; default: setting grounding_k
    # the law in force on this day (YYYY-MM-DD); default: the version in force now
    date: Annotated[str, stated(format="date")] | None = None  # checked in grounding.py


class ChatCompletionRequest(_Sampling, kw_only=True):
    messages: Annotated[list[ChatMessage], stated(minItems=1)]
    max_completion_tokens: MaxTokens | None = None
    top_logprobs: int | None = None
    response_format: ResponseFormat | None = None
    tools: Annotated[list[dict[str, Any]], stated(maxItems=0)] | None = None  # no tool calling
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    # legal-edge extension: statute retrieval (docs/grounding.md); false = off
    grounding: bool | GroundingOptions | None = None


class CompletionRequest(_Sampling, kw_only=True):
    prompt: Annotated[str | list[str], stated(minItems=1, maxItems=1)]  # one prompt
    echo: Annotated[bool, stated(enum=[False, None])] | None = None  # not supported
    suffix: Annotated[str, stated(maxLength=0)] | None = None  # not supported
    best_of: Annotated[int, stated(enum=[1, None])] | None = None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)
