"""The feature checks of bench/conformance.py, in table order: each takes a ``Target`` and returns
a note when the feature's answer is correct (verdicts in ``conformance_rows``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from conformance_rows import (
    ASK,
    ASK_JSON,
    ASK_TOOL,
    LOOKUP,
    PROMPT,
    TOOLS,
    VERDICT_SCHEMA,
    Target,
    Verdict,
    Wrong,
    judge_boost,
    judge_distinct,
    judge_echo,
    judge_stop,
    judge_token_logprobs,
    judge_tool_calls,
    validates,
)

GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 24}
# room for a grammar-bound answer to close its JSON
LONG = 96


def chat(t: Target, **kw: Any) -> Any:
    return t.client().chat.completions.create(model=t.model, **{"messages": ASK, **GREEDY, **kw})


def chat_plain(t: Target) -> str:
    r = chat(t)
    text = r.choices[0].message.content
    if not text or not r.usage or r.usage.completion_tokens < 1:
        raise Wrong(f"content {text!r}, usage {r.usage}")
    return f"{r.usage.completion_tokens} tokens"


def chat_stream(t: Target) -> str:
    whole = chat(t).choices[0].message.content
    if not whole:  # an empty answer streamed as empty proves nothing
        raise Wrong("empty plain answer to compare with")
    parts, finish = [], None
    for chunk in chat(t, stream=True):
        for c in chunk.choices:
            parts.append(c.delta.content or "")
            finish = c.finish_reason or finish
    if "".join(parts) != whole or finish is None:
        raise Wrong(f"streamed {''.join(parts)[:40]!r} != {whole[:40]!r} (finish {finish})")
    return f"{len(parts)} chunks = the plain answer"


def json_object(t: Target) -> str:
    r = chat(t, messages=ASK_JSON, response_format={"type": "json_object"}, max_tokens=LONG)
    if not isinstance(validates({"type": "object"}, r.choices[0].message.content), dict):
        raise Wrong("not an object")
    return "an object"


def json_schema_strict(t: Target) -> str:
    fmt = {"name": "verdict", "schema": VERDICT_SCHEMA, "strict": True}
    r = chat(
        t,
        messages=ASK_JSON,
        response_format={"type": "json_schema", "json_schema": fmt},
        max_tokens=LONG,
    )
    return "validates: " + json.dumps(
        validates(VERDICT_SCHEMA, r.choices[0].message.content), ensure_ascii=False
    )


def parse_pydantic(t: Target) -> str:
    r = t.client().chat.completions.parse(
        model=t.model, messages=ASK_JSON, response_format=Verdict, temperature=0, max_tokens=LONG
    )
    got = r.choices[0].message.parsed
    if not isinstance(got, Verdict):
        raise Wrong(f"parsed is {type(got).__name__}")
    return "a Verdict"


def lc_structured(method: str | None) -> Callable[[Target], str]:
    def check(t: Target) -> str:
        kw = {"method": method} if method else {}
        llm = t.chat_model(temperature=0, max_tokens=LONG).with_structured_output(Verdict, **kw)
        got = llm.invoke(ASK_JSON)
        if not isinstance(got, Verdict):
            raise Wrong(f"got {type(got).__name__}")
        return "a Verdict"

    check.__name__ = f"lc_structured_{method or 'default'}"
    return check


def tools(choice: Any) -> Callable[[Target], str]:
    def check(t: Target) -> str:
        r = chat(t, messages=ASK_TOOL, tools=TOOLS, tool_choice=choice, max_tokens=LONG)
        c = r.choices[0]
        calls = [x.model_dump() for x in c.message.tool_calls or []]
        if choice == "none" or (choice == "auto" and not calls):
            if calls or not c.message.content:
                raise Wrong(f"tool_calls {calls} / content {c.message.content!r}")
            return "answered in text"
        name = choice["function"]["name"] if isinstance(choice, dict) else None
        return judge_tool_calls(calls, c.finish_reason, name)

    check.__name__ = f"tools_{choice if isinstance(choice, str) else 'named'}"
    return check


def tool_deltas(t: Target) -> str:
    calls: dict[int, dict[str, Any]] = {}
    finish, n = None, 0
    stream = chat(
        t, messages=ASK_TOOL, tools=TOOLS, tool_choice="required", stream=True, max_tokens=LONG
    )
    for chunk in stream:
        for c in chunk.choices:
            finish = c.finish_reason or finish
            for d in c.delta.tool_calls or []:
                n += 1
                call = calls.setdefault(
                    d.index, {"id": None, "function": {"name": "", "arguments": ""}}
                )
                call["id"] = call["id"] or d.id
                if d.function:
                    call["function"]["name"] += d.function.name or ""
                    call["function"]["arguments"] += d.function.arguments or ""
    if any(not c["id"] for c in calls.values()):
        raise Wrong("a streamed call has no id")
    return judge_tool_calls(list(calls.values()), finish) + f" in {n} deltas"


def lc_bind_tools(t: Target) -> str:
    from langchain_core.messages import HumanMessage, ToolMessage

    llm = t.chat_model(temperature=0, max_tokens=LONG)
    history: list[Any] = [HumanMessage(ASK_TOOL[0]["content"])]
    ai = llm.bind_tools([LOOKUP], tool_choice="lookup_article").invoke(history)
    if not ai.tool_calls:
        raise Wrong("no tool call")
    judge_tool_calls(
        [
            {"function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
            for c in ai.tool_calls
        ],
        "tool_calls",
    )
    history += [
        ai,
        ToolMessage(
            "第二百六十四条 盗窃公私财物，数额较大的……", tool_call_id=ai.tool_calls[0]["id"]
        ),
    ]
    final = llm.bind_tools([LOOKUP], tool_choice="none").invoke(history)
    if final.tool_calls or not isinstance(final.content, str) or not final.content:
        raise Wrong(f"final answer {final.content!r}, calls {final.tool_calls}")
    return "call, result, answer"


def chat_logprobs(t: Target) -> str:
    c = chat(t, logprobs=True, top_logprobs=3).choices[0]
    lps = (c.logprobs and c.logprobs.content) or []
    tops = [[(x.token, x.logprob) for x in lp.top_logprobs] for lp in lps]
    return judge_token_logprobs(
        [x.token for x in lps], [x.logprob for x in lps], tops, c.message.content or ""
    )


def completion_logprobs(t: Target) -> str:
    r = t.client().completions.create(model=t.model, prompt=PROMPT, logprobs=3, **GREEDY)
    lp = r.choices[0].logprobs
    if lp is None or not lp.tokens:
        raise Wrong("no logprobs")
    tops = [list((d or {}).items()) for d in lp.top_logprobs or []]
    return judge_token_logprobs(lp.tokens, lp.token_logprobs or [], tops, r.choices[0].text)


def stream_logprobs(t: Target) -> str:
    tokens, lps, tops, text = [], [], [], ""
    for chunk in chat(t, logprobs=True, top_logprobs=2, stream=True):
        for c in chunk.choices:
            text += c.delta.content or ""
            for x in (c.logprobs and c.logprobs.content) or []:
                tokens.append(x.token)
                lps.append(x.logprob)
                tops.append([(y.token, y.logprob) for y in x.top_logprobs])
    return judge_token_logprobs(tokens, lps, tops, text)


def logit_bias(t: Target) -> str:
    plain = t.tokenize(chat(t, max_tokens=8).choices[0].message.content or "")
    if not plain:
        raise Wrong("empty greedy answer: no first token to ban")
    first = plain[0]
    banned = chat(t, max_tokens=8, logit_bias={str(first): -100}).choices[0].message.content or ""
    if banned.startswith(t.piece(first)) and t.tokenize(banned)[:1] == [first]:
        raise Wrong(f"banned token {t.piece(first)!r} still starts the answer")
    boost = t.tokenize("法")[-1]
    r = chat(t, max_tokens=6, logit_bias={str(boost): 100})
    judge_boost(r.choices[0].message.content or "", t.piece(boost), r.usage.completion_tokens)
    return f"ban of {t.piece(first)!r} and boost of {t.piece(boost)!r} hold"


def n_choices(t: Target) -> str:
    r = chat(t, n=3, temperature=1.0, max_tokens=16)
    return judge_distinct([c.message.content or "" for c in r.choices], 3)


def echo(t: Target) -> str:
    r = t.client().completions.create(model=t.model, prompt=PROMPT, echo=True, max_tokens=4)
    return judge_echo(PROMPT, r.choices[0].text)


def echo_logprobs(t: Target) -> str:
    r = t.client().completions.create(
        model=t.model, prompt=PROMPT, echo=True, logprobs=1, max_tokens=4, temperature=0
    )
    c = r.choices[0]
    judge_echo(PROMPT, c.text)
    lp = c.logprobs
    if lp is None or "".join(lp.tokens or []) != c.text:
        raise Wrong(f"logprobs tokens do not spell the echoed text: {lp and lp.tokens}")
    if (
        len(lp.token_logprobs or []) != len(lp.tokens)
        or len(lp.tokens) <= r.usage.completion_tokens
    ):
        raise Wrong("no logprobs for the prompt's tokens")
    return f"{len(lp.tokens)} tokens with logprobs"


def seed(t: Target) -> str:
    def one(s: int) -> str:
        return chat(t, temperature=1.0, seed=s, max_tokens=24).choices[0].message.content or ""

    a, b, other = one(1234), one(1234), one(99)
    if a != b:
        raise Wrong("same seed, different answers")
    if a == other:
        raise Wrong("another seed gives the same answer: is it sampling at all?")
    return "same seed, same answer"


def stop_strings(t: Target) -> str:
    full = chat(t, max_tokens=24).choices[0].message.content or ""
    if len(full) < 6:
        raise Wrong(f"answer too short to cut: {full!r}")
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    c = chat(t, max_tokens=24, stop=[stop]).choices[0]
    return judge_stop(full, stop, c.message.content or "", c.finish_reason)


def stream_usage(t: Target) -> str:
    chunks = list(chat(t, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    if last.usage is None or last.choices or last.usage.completion_tokens < 1:
        raise Wrong(f"last chunk: choices {len(last.choices)}, usage {last.usage}")
    return f"{last.usage.completion_tokens} completion tokens"


ROWS: list[tuple[str, Callable[[Target], str]]] = [
    ("chat, plain", chat_plain),
    ("chat, stream (= the plain answer)", chat_stream),
    ("response_format json_object", json_object),
    ("response_format json_schema strict (validates)", json_schema_strict),
    ("`parse()` with a pydantic model", parse_pydantic),
    ("LangChain with_structured_output (default)", lc_structured(None)),
    ("LangChain with_structured_output json_schema", lc_structured("json_schema")),
    ("LangChain with_structured_output function_calling", lc_structured("function_calling")),
    ("tools, tool_choice auto", tools("auto")),
    ("tools, tool_choice required", tools("required")),
    ("tools, tool_choice named", tools({"type": "function", "function": {"name": "court_fee"}})),
    ("tools, tool_choice none", tools("none")),
    ("tool_call deltas, streamed", tool_deltas),
    ("LangChain bind_tools round trip", lc_bind_tools),
    ("logprobs + top_logprobs, chat", chat_logprobs),
    ("logprobs + top_logprobs, completions", completion_logprobs),
    ("logprobs, streamed chat", stream_logprobs),
    ("logit_bias (ban and boost hold)", logit_bias),
    ("n=3 distinct choices", n_choices),
    ("echo (completions)", echo),
    ("echo + logprobs", echo_logprobs),
    ("seed determinism", seed),
    ("stop strings", stop_strings),
    ("usage in stream (include_usage)", stream_usage),
]
