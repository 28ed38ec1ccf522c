"""The rows of the conformance table (issue 17): one check per feature, through the real
``openai`` SDK and LangChain. A check returns a short note when the answer is *correct* (the
schema validates, the ban holds, the choices differ...), raises ``Wrong`` when the server
answered but the answer is wrong, and any other exception is the server refusing or breaking.
The pure ``judge_*`` functions hold the verdicts so tests can hand them wrong answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import openai
from pydantic import BaseModel, ConfigDict


class Wrong(Exception):
    """The server answered, but not what the feature promises."""


class Verdict(BaseModel):
    """The structured-output target: every field closed, so a grammar can finish it quickly."""

    model_config = ConfigDict(extra="forbid")
    law: Literal["民法典", "刑法", "劳动合同法"]
    article: int
    guilty: bool


VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "law": {"type": "string", "enum": ["民法典", "刑法", "劳动合同法"]},
        "article": {"type": "integer"},
        "guilty": {"type": "boolean"},
    },
    "required": ["law", "article", "guilty"],
    "additionalProperties": False,
}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_article",
        "description": "查询法条原文",
        "parameters": {
            "type": "object",
            "properties": {
                "law": {"type": "string", "enum": ["民法典", "刑法", "劳动合同法"]},
                "article": {"type": "integer"},
            },
            "required": ["law", "article"],
            "additionalProperties": False,
        },
    },
}
FEE = {
    "type": "function",
    "function": {
        "name": "court_fee",
        "description": "计算诉讼费",
        "parameters": {
            "type": "object",
            "properties": {"amount_yuan": {"type": "integer"}},
            "required": ["amount_yuan"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [LOOKUP, FEE]
ASK = [{"role": "user", "content": "劳动合同法第三十九条规定了什么？"}]
ASK_TOOL = [{"role": "user", "content": "请调用工具查询刑法第二百六十四条的原文。"}]
ASK_JSON = [
    {
        "role": "user",
        "content": "盗窃罪适用哪部法律的哪一条？被告是否有罪？只用 JSON 回答，"
        '字段 law、article、guilty，例如 {"law": "刑法", "article": 264, "guilty": true}。',
    }
]
PROMPT = "中华人民共和国民法典第一条规定，"


@dataclass(frozen=True)
class Target:
    """One server under test: its OpenAI base URL (ending in /v1), the model name it answers to,
    and a tokenizer of the same GGUF (for logit_bias token ids)."""

    base_url: str
    model: str
    tokenize: Callable[[str], list[int]]
    piece: Callable[[int], str]
    timeout: float = 150.0

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url, api_key="none", max_retries=0, timeout=self.timeout
        )

    def chat_model(self, **kw: Any) -> Any:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=self.base_url,
            api_key="none",  # type: ignore[arg-type]
            model=self.model,
            max_retries=0,
            timeout=self.timeout,
            **kw,
        )


def gguf_tokenizer(gguf: Path) -> tuple[Callable[[str], list[int]], Callable[[int], str]]:
    """Tokenize and detokenize with the GGUF's own vocabulary (no weights loaded)."""
    from legal_edge.backends.llamacpp.cpu_mode import open_llama

    llm = open_llama(gguf, vocab_only=True)

    def tokenize(text: str) -> list[int]:
        return list(llm.tokenize(text.encode(), add_bos=False, special=False))

    def piece(token: int) -> str:
        return llm.detokenize([token]).decode("utf-8", errors="replace")

    return tokenize, piece


def validates(schema: dict[str, Any], text: str | None) -> dict[str, Any]:
    """The parsed answer if ``text`` is JSON that validates against ``schema``, else ``Wrong``."""
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as e:
        raise Wrong(f"not JSON ({e.msg}): {(text or '')[:60]!r}") from None
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(value)]
    if errors:
        raise Wrong(f"does not validate: {errors[0][:80]}")
    return value  # type: ignore[no-any-return]


def judge_tool_calls(calls: list[Any] | None, finish: str | None, name: str | None = None) -> str:
    """Calls that name a declared tool (``name`` when forced) with arguments that validate."""
    if not calls:
        raise Wrong(f"no tool_calls (finish_reason {finish!r})")
    declared = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    for call in calls:
        fn = call["function"] if isinstance(call, dict) else call.function
        fname = fn["name"] if isinstance(fn, dict) else fn.name
        args = fn["arguments"] if isinstance(fn, dict) else fn.arguments
        if fname not in declared or (name and fname != name):
            raise Wrong(f"called {fname!r}" + (f", not {name!r}" if name else ""))
        validates(declared[fname], args)
    if finish != "tool_calls":
        raise Wrong(f"finish_reason {finish!r}, not 'tool_calls'")
    return f"called {fname}"


def judge_token_logprobs(
    tokens: list[str], logprobs: list[float], tops: list[Any], text: str
) -> str:
    """The tokens spell the text; each logprob is ≤ 0 and is the one its position's top list
    gives that token (a list from another position, or none, fails). Not "greedy took the top
    token": a server's default repeat penalty (legal-edge's manifest, llama_cpp.server's 1.1)
    may rightly choose below the raw top."""
    if not tokens:
        raise Wrong("no logprobs")
    if "".join(tokens) != text:
        raise Wrong(f"tokens spell {''.join(tokens)[:40]!r}, text is {text[:40]!r}")
    for i, (tok, lp, top) in enumerate(zip(tokens, logprobs, tops, strict=True)):
        if lp is None or lp > 1e-6:
            raise Wrong(f"logprob {lp} of {tok!r}")
        if not top:
            raise Wrong(f"no top_logprobs for {tok!r}")
        mine = [v for k, v in top if k == tok]
        if not mine or all(abs(v - lp) > 1e-3 for v in mine):
            raise Wrong(f"token {i} {tok!r} ({lp:.3f}) not in its top list {top[:3]}")
    return f"{len(tokens)} tokens"


def judge_stop(full: str, stop: str, cut: str, finish: str | None) -> str:
    """With ``stop``, the greedy answer ends right before the stop string's first occurrence."""
    want = full[: full.index(stop)]
    if cut != want:
        raise Wrong(f"got {cut[:40]!r}, want {want[:40]!r}")
    if finish != "stop":
        raise Wrong(f"finish_reason {finish!r}")
    return f"cut at {stop!r}"


def judge_distinct(texts: list[str], n: int) -> str:
    if len(texts) != n:
        raise Wrong(f"{len(texts)} choices, asked for {n}")
    if len(set(texts)) != n:
        raise Wrong(f"only {len(set(texts))} distinct of {n}")
    return f"{n} distinct"


def judge_boost(text: str, piece: str, tokens: int) -> str:
    """logit_bias +100 on one token under greedy: every generated token is that token."""
    if not piece or text != piece * tokens:
        raise Wrong(f"boosted {piece!r}, got {text[:40]!r}")
    return f"{tokens}x {piece!r}"


def judge_echo(prompt: str, text: str) -> str:
    if not text.startswith(prompt) or len(text) <= len(prompt):
        raise Wrong(f"text {text[:40]!r} does not start with the prompt and go on")
    return "prompt + completion"


Kind = Literal["pass", "fail", "error"]


def run_row(check: Callable[[Target], str], target: Target) -> tuple[Kind, str]:
    """The row's outcome: pass with a note, fail with what was wrong, error with the refusal."""
    try:
        return "pass", check(target)
    except Wrong as e:
        return "fail", str(e)[:160]
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        msg = body.get("message") or body.get("error") or e.message
        return "error", f"{e.status_code}: {str(msg)[:140]}"
    except Exception as e:  # noqa: BLE001 - the table records any breakage, named
        return "error", f"{type(e).__name__}: {str(e)[:140]}"
