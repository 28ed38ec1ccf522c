"""Request bodies of the OpenAI-compatible API (msgspec: validated by Litestar, in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
# completions: 0 with echo scores the prompt without generating (lm-evaluation-harness's way)
PromptMaxTokens = Annotated[int, Meta(ge=0, extra_json_schema={"extra": {"minimum": 0}})]
TopLogprobs = Annotated[int, Meta(ge=0, le=20, extra_json_schema={"extra": {"minimum": 0}})]
Penalty = Annotated[float, Meta(ge=-2.0, le=2.0)]
MAX_LOGIT_BIAS = 1024
MAX_TOOLS = 64
MAX_N = 8


class ContentPart(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["text"])]  # only text parts
    text: str


class FunctionCall(Struct, kw_only=True):
    name: str
    arguments: str = "{}"  # a JSON object, as text


class ToolCall(Struct, kw_only=True):
    id: str
    type: Annotated[str, stated(enum=["function"])] = "function"
    function: FunctionCall


class ChatMessage(Struct, kw_only=True):
    role: Annotated[str, stated(enum=["system", "developer", "user", "assistant", "tool"])]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # an assistant's earlier calls
    tool_call_id: str | None = None  # a tool message: the call it answers


class FunctionSpec(Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema of the arguments
    strict: bool | None = None  # arguments always follow the schema (grammar)


class Tool(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["function"])] = "function"
    function: FunctionSpec


class NamedFunction(Struct, kw_only=True):
    name: str


class NamedToolChoice(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["function"])] = "function"
    function: NamedFunction


class StreamOptions(Struct, kw_only=True):
    include_usage: bool = False


class JSONSchemaSpec(Struct, kw_only=True):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = msgspec.field(default=None, name="schema")
    strict: bool | None = None  # the grammar enforces the schema either way


class ResponseFormat(Struct, kw_only=True):
    type: Annotated[str, stated(enum=["text", "json_object", "json_schema"])] = "text"
    json_schema: JSONSchemaSpec | None = None


class _Sampling(Struct, kw_only=True):
    model: str
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    n: Annotated[int, Meta(ge=1, le=MAX_N)] = 1  # choices, one sequence each
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
    # token id (a string, OpenAI's form) -> added to its logit, -100 (never) .. 100 (always)
    logit_bias: (
        Annotated[
            dict[str, float],
            stated(
                maxProperties=MAX_LOGIT_BIAS,
                propertyNames={"pattern": "^[0-9]{1,9}$"},  # token ids, as strings
                additionalProperties={"type": "number", "minimum": -100, "maximum": 100},
            ),
        ]
        | None
    ) = None
    user: str | None = None


class GroundingOptions(Struct, kw_only=True, forbid_unknown_fields=True):
    """Extension field ``grounding`` (openai SDK: ``extra_body``): retrieval for this request."""

    enabled: bool = True  # false: no articles retrieved (citations in the answer still checked)
    # articles; default: setting grounding_k (Litestar drops a zero bound: restated as extra)
    k: Annotated[int, Meta(ge=0, le=10, extra_json_schema={"extra": {"minimum": 0}})] | None = None
    # the law in force on this day (YYYY-MM-DD); default: the version in force now
    date: Annotated[str, stated(format="date")] | None = None  # checked in grounding.py


class ChatCompletionRequest(_Sampling, kw_only=True):
    messages: Annotated[list[ChatMessage], stated(minItems=1)]
    max_completion_tokens: MaxTokens | None = None
    logprobs: bool | None = None
    top_logprobs: TopLogprobs | None = None  # needs logprobs: true
    response_format: ResponseFormat | None = None
    tools: Annotated[list[Tool], stated(maxItems=MAX_TOOLS)] | None = None
    # "none" | "auto" | "required" | {"type": "function", "function": {"name": ...}}
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # legal-edge extension: statute retrieval (docs/grounding.md); false = off
    grounding: bool | GroundingOptions | None = None


class CompletionRequest(_Sampling, kw_only=True):
    prompt: Annotated[str | list[str], stated(minItems=1, maxItems=1)]  # one prompt
    max_tokens: PromptMaxTokens | None = None  # 0 only with echo: the prompt alone
    logprobs: TopLogprobs | None = None  # the k most likely per token
    echo: bool | None = None  # the prompt before the answer (with logprobs: the prompt's too)
    suffix: Annotated[str, stated(maxLength=0)] | None = None  # not supported
    best_of: Annotated[int, stated(enum=[1, None])] | None = None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)
