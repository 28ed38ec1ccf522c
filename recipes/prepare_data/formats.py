"""Row formats: how one JSON row of each known kind becomes a prepared record.

The prompt formats other stages share (multiple-choice questions and answers, the refusal text
made for harmful requests) live in ``recipes.shared.prompt_formats``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from recipes.shared.prompt_formats import mcq_answer, mcq_prompt, refusal_text
from recipes.shared.records import RowError
from recipes.shared.statutes import parse_case

DEFAULT_CATEGORY = {
    "alpaca": "consultation",
    "messages": "consultation",
    "mcq": "exam_mcq",
    "case": "case",
    "typical_case": "case",
    "case_markdown": "case",
    "safety_refusal": "safety",
    "safety_pairs": "safety",
    "statutes": "statute",
    "docx": "contract",
    "pdf": "contract",
    "text": "document",
}


def _text(row: Mapping[str, Any], *keys: str, required: bool = True) -> str:
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None and not isinstance(value, (str, dict, list)):
            return str(value)
    if required:
        raise RowError("missing_field", f"missing field {' / '.join(keys)}")
    return ""


def detect(row: Mapping[str, Any]) -> str:
    """Guess a row's format from its keys; ``unknown_format`` when nothing fits."""
    keys = set(row)
    if "messages" in keys or "conversations" in keys:
        return "messages"
    if {"question", "options", "answer"} <= keys:
        return "mcq"
    if {"prompt", "chosen"} <= keys:
        return "safety_pairs"
    if {"prompt", "expected_behavior"} <= keys or {"prompt", "label"} <= keys:
        return "safety_refusal"
    if "reference" in keys and keys & {"question", "input", "instruction"}:
        return "case"
    if "output" in keys or "instruction" in keys:
        return "alpaca"  # a row without ``output`` then fails naming the missing field
    if {"title", "text"} <= keys:
        return "typical_case"
    raise RowError("unknown_format", f"cannot tell the format from keys {sorted(keys)}")


def from_mcq(row: Mapping[str, Any]) -> dict[str, Any]:
    question = _text(row, "question", "Question")
    options = row.get("options")
    if not isinstance(options, Mapping) or not options:
        options = {k: row[k] for k in "ABCDEF" if isinstance(row.get(k), str)}
    if len(options) < 2:
        raise RowError("missing_field", "multiple-choice row without options")
    raw = str(_text(row, "answer", "Answer")).upper()
    letters = re.sub(r"[\s,，、;；/和及]", "", raw)
    answer = "".join(sorted(set(letters)))
    if not letters.isalpha() or not set(answer) <= set(options):
        raise RowError("bad_answer", f"answer {raw!r} is not among options {sorted(options)}")
    multi = bool(row["multi"]) if isinstance(row.get("multi"), bool) else len(answer) > 1
    instruction, inp = mcq_prompt(question, options, multi)
    explanation = _text(row, "explanation", "analysis", required=False)
    return {"instruction": instruction, "input": inp, "output": mcq_answer(answer, explanation)}


def from_alpaca(row: Mapping[str, Any]) -> dict[str, Any]:
    instruction = _text(row, "instruction", "question", "prompt", required=False)
    inp = _text(row, "input", required=False)
    if not instruction and not inp:
        raise RowError("missing_field", "missing field instruction / input")
    output = row.get("output")
    if not isinstance(output, str):
        raise RowError("missing_field", "missing field output")
    return {"instruction": instruction, "input": inp, "output": output.strip()}


ROLE_MAP = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "system": "system",
}


def from_messages(row: Mapping[str, Any]) -> dict[str, Any]:
    turns = row.get("messages") or row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise RowError("missing_field", "missing field messages / conversations")
    messages = []
    for i, t in enumerate(turns):
        if not isinstance(t, Mapping):
            raise RowError("bad_messages", f"turn {i} is not an object")
        role = ROLE_MAP.get(str(t.get("role") or t.get("from") or "").lower())
        content = t.get("content", t.get("value"))
        if role is None or not isinstance(content, str):
            raise RowError("bad_messages", f"turn {i}: unknown role or missing content")
        messages.append({"role": role, "content": content.strip()})
    merged: list[dict[str, str]] = []
    for m in messages:  # consecutive turns of one speaker are one turn split in two
        if merged and merged[-1]["role"] == m["role"] and m["role"] != "system":
            merged[-1] = {
                "role": m["role"],
                "content": f"{merged[-1]['content']}\n\n{m['content']}",
            }
        else:
            merged.append(m)
    messages = merged
    dialog = [m for m in messages if m["role"] != "system"]
    if not dialog or dialog[0]["role"] != "user" or dialog[-1]["role"] != "assistant":
        raise RowError("bad_messages", "a conversation must start with user and end with assistant")
    if any(a["role"] == b["role"] for a, b in zip(dialog, dialog[1:], strict=False)):
        raise RowError("bad_messages", "user and assistant turns must alternate")
    first_user = dialog[0]["content"]
    first_answer = dialog[1]["content"]
    rec: dict[str, Any] = {"instruction": first_user, "input": "", "output": first_answer}
    if len(dialog) > 2 or len(messages) != len(dialog):
        rec["messages"] = messages  # multi-turn (or with a system prompt): keep every turn
    return rec


CASE_INSTRUCTION = "请根据以下案情，分析争议焦点并给出处理结果及理由。"


def from_case(row: Mapping[str, Any]) -> dict[str, Any]:
    question = _text(row, "question", required=False)
    instruction = _text(row, "instruction", required=False)
    inp = _text(row, "input", required=False)
    if question and not instruction:
        instruction = question
    elif question:
        inp = f"{question}\n{inp}".strip()
    if not instruction and not inp:
        raise RowError("missing_field", "missing field question / instruction / input")
    output = _text(row, "reference", "answer", "output")
    return {"instruction": instruction, "input": inp, "output": output}


def case_record(sections: Mapping[str, str]) -> dict[str, Any]:
    """A case write-up (facts, claims, result, analysis) as an analysis task."""
    facts = sections.get("facts", "")
    if sections.get("claims"):
        facts = f"{facts}\n诉讼请求：{sections['claims']}"
    answer = "\n".join(
        f"{label}：{sections[k]}"
        for k, label in (("result", "处理结果"), ("analysis", "分析"), ("significance", "典型意义"))
        if sections.get(k)
    )
    if not facts.strip() or not answer:
        raise RowError("missing_field", "case without 基本案情 or 裁判结果/案例分析 sections")
    return {"instruction": CASE_INSTRUCTION, "input": facts.strip(), "output": answer}


def from_safety_refusal(row: Mapping[str, Any]) -> dict[str, Any]:
    prompt = _text(row, "prompt", "question")
    if "expected_behavior" in row:
        behavior = str(row["expected_behavior"])
    else:  # XSTest-style labels: unsafe prompts must be refused, safe ones answered
        behavior = (
            "refuse" if str(row.get("label", "unsafe")) == "unsafe" else f"answer ({row['label']})"
        )
    if not behavior.startswith("refuse"):
        raise RowError(
            "no_answer",
            f"prompt-only row with expected_behavior {behavior[:40]!r}: "
            "no reference answer to train on (use it for evaluation)",
        )
    output = refusal_text(prompt, str(row.get("category") or ""), str(row.get("subcategory") or ""))
    return {"instruction": prompt, "input": "", "output": output}


def from_safety_pairs(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"instruction": _text(row, "prompt"), "input": "", "output": _text(row, "chosen")}


def from_typical_case(row: Mapping[str, Any]) -> dict[str, Any]:
    return case_record(parse_case(_text(row, "text")))


CONVERTERS = {
    "mcq": from_mcq,
    "alpaca": from_alpaca,
    "messages": from_messages,
    "case": from_case,
    "typical_case": from_typical_case,
    "safety_refusal": from_safety_refusal,
    "safety_pairs": from_safety_pairs,
}


def convert_row(fmt: str, row: Any) -> tuple[str, dict[str, Any]]:
    """(format used, record fields) for one JSON row; raises ``RowError`` with a rule."""
    if not isinstance(row, Mapping):
        raise RowError("bad_row", f"a row must be a JSON object, got {type(row).__name__}")
    if fmt == "auto":
        fmt = detect(row)
    if fmt not in CONVERTERS:
        raise RowError("unknown_format", f"format {fmt!r} does not apply to JSON rows")
    return fmt, CONVERTERS[fmt](row)
