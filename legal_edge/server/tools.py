"""Tool calling: ``tools`` / ``tool_choice`` into the prompt and a grammar; the answer back into
OpenAI ``tool_calls``.

The prompt: a chat template that knows tools (its source uses ``tools``, as Hugging Face
templates do) gets them, and the messages' ``tool_calls`` / ``tool`` turns, as they are. For a
template without tool support (the Gemma turn format) a generic system note lists the tools
and the call format, earlier calls are written back in that format and tool results become
user turns. Nothing here is specific to one model.

The call format is one JSON object, ``{"name": ..., "arguments": {...}}``, and its JSON schema,
made from the tools' parameter schemas, is enforced like a ``response_format`` schema (a grammar
on llama.cpp, vLLM's structured outputs): ``required`` and a named function from the first
token; ``auto`` lazily, once the answer starts with ``{`` (free text otherwise); ``none`` not at
all. One call per answer (``parallel_tool_calls`` asks for no more than that).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from legal_edge.backends.base import OBJECT_TRIGGER
from legal_edge.prompts import render_chat
from legal_edge.server.errors import APIError, bad_combination, bad_request
from legal_edge.server.schemas import ChatCompletionRequest, Tool
from legal_edge.server.structured import SchemaError, check_schema

GENERIC_NOTE = (
    "You can call these tools. To call one, answer with only a JSON object "
    '{{"name": <tool name>, "arguments": <arguments object>}} and nothing else; '
    "otherwise answer normally.\n\nTools:\n{tools}"
)


@dataclass(frozen=True)
class ToolPlan:
    """What a request's tools mean for this generation."""

    tools: tuple[Tool, ...]
    choice: str  # none | auto | required | function
    schema: str | None  # JSON text of the call's schema (None: unconstrained)
    triggers: tuple[str, ...]


def _choice(req: ChatCompletionRequest) -> tuple[str, str | None]:
    c = req.tool_choice
    if c is None:
        return ("auto" if req.tools else "none"), None
    if isinstance(c, str):
        if c not in ("none", "auto", "required"):
            raise bad_request(
                f"tool_choice: {c!r} is not one of none, auto, required or a named function",
                "tool_choice",
            )
        return c, None
    return "function", c.function.name


def call_schema(tools: tuple[Tool, ...]) -> dict[str, Any]:
    """The JSON schema of one call to any of ``tools``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.function.name},
                "arguments": t.function.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def plan(req: ChatCompletionRequest) -> ToolPlan | None:
    """The request's tool plan (None without tools); a 400 naming the field when malformed."""
    choice, named = _choice(req)
    if not req.tools:
        if choice in ("required", "function"):
            raise bad_combination(f"tool_choice: {choice!r} needs tools", "tool_choice")
        return None
    if req.response_format is not None and req.response_format.type != "text":
        raise bad_combination("response_format: cannot be combined with tools", "response_format")
    tools = tuple(req.tools)
    names = [t.function.name for t in tools]
    if len(set(names)) != len(names):
        raise bad_combination("tools: function names must be unique", "tools")
    if named is not None:
        if named not in names:
            raise bad_combination(f"tool_choice: no tool is named {named!r}", "tool_choice")
        tools = tuple(t for t in tools if t.function.name == named)
    for i, t in enumerate(req.tools):
        params = t.function.parameters
        if params is not None and params.get("type", "object") != "object":
            raise APIError(
                400,
                f"tools[{i}].function.parameters: must describe an object",
                code="unsupported_schema",
                param=f"tools[{i}].function.parameters",
            )
    if choice == "none":
        return ToolPlan(tools, choice, None, ())
    schema = call_schema(tools)
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise APIError(
            400,
            f"tools: a function's parameters {exc}",
            code="unsupported_schema",
            param="tools",
        ) from None
    text = json.dumps(schema, ensure_ascii=False)
    return ToolPlan(tools, choice, text, (OBJECT_TRIGGER,) if choice == "auto" else ())


def template_knows_tools(template: str) -> bool:
    return re.search(r"\btools\b", template) is not None


def _call_text(name: str, arguments: str) -> str:
    return f'{{"name": {json.dumps(name, ensure_ascii=False)}, "arguments": {arguments}}}'


def generic_messages(
    messages: list[dict[str, Any]], tool_plan: ToolPlan | None
) -> list[dict[str, Any]]:
    """Messages for a template without tool support: the tools as a system note, earlier calls
    in the call format, tool results as user turns."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    if tool_plan is not None and tool_plan.choice != "none":
        listed = [
            {
                "name": t.function.name,
                "description": t.function.description or "",
                "parameters": t.function.parameters or {"type": "object"},
            }
            for t in tool_plan.tools
        ]
        note = GENERIC_NOTE.format(tools=json.dumps(listed, ensure_ascii=False, indent=1))
        out.append({"role": "system", "content": note})
    for m in messages:
        calls = m.get("tool_calls") or []
        if m["role"] == "assistant" and calls:
            for c in calls:
                names[c["id"]] = c["function"]["name"]
            text = "\n".join(
                _call_text(c["function"]["name"], c["function"]["arguments"]) for c in calls
            )
            out.append({"role": "assistant", "content": ((m["content"] or "") + text).strip()})
        elif m["role"] == "tool":
            name = names.get(m.get("tool_call_id") or "", "tool")
            out.append({"role": "user", "content": f"Result of {name}: {m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a template that knows tools: arguments as objects (HF convention)."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {
                    **c,
                    "function": {**c["function"], "arguments": _loads(c["function"])},
                }
                for c in m["tool_calls"]
            ]
        out.append(m)
    return out


def _loads(function: dict[str, Any]) -> Any:
    try:
        return json.loads(function["arguments"])
    except ValueError:
        return function["arguments"]


def template_tools(tool_plan: ToolPlan | None) -> list[dict[str, Any]] | None:
    if tool_plan is None or tool_plan.choice == "none":
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": t.function.name,
                "description": t.function.description or "",
                "parameters": t.function.parameters or {"type": "object"},
            },
        }
        for t in tool_plan.tools
    ]


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def render_with_tools(
    template: str, messages: list[dict[str, Any]], tool_plan: ToolPlan | None
) -> str:
    """The prompt: the template's own tool rendering when it has one, else the generic one."""
    if template_knows_tools(template):
        return render_chat(template, template_messages(messages), tools=template_tools(tool_plan))
    return render_chat(template, generic_messages(messages, tool_plan))
