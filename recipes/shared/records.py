"""The prepared record and the rejection that explains a dropped one.

Internally a record is a plain dict with the output contract's keys
(``id, instruction, input, output, source, category, license`` + ``messages`` for multi-turn)
plus private keys starting with ``_`` (origin ``file:line``, split group, statute metadata) that
``public`` strips before writing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

OUTPUT_KEYS = ("id", "instruction", "input", "output", "source", "category", "license")


class RowError(ValueError):
    """A row that cannot become a record; ``rule`` names the reason in the report."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass
class Rejection:
    """One dropped input or record: which rule, why, and where it came from."""

    rule: str
    reason: str
    origin: str  # file:line (or file for whole-file problems)
    source: str = ""
    id: str = ""
    record: dict[str, Any] | None = None
    duplicate_of: str = ""
    license: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "reason": self.reason, "origin": self.origin}
        if self.source:
            out["source"] = self.source
        if self.id:
            out["id"] = self.id
        if self.duplicate_of:
            out["duplicate_of"] = self.duplicate_of
        if self.license:
            out["license"] = self.license
        if self.record is not None:
            out["record"] = public(self.record)
        return out


def make_record(
    *,
    id: str,
    instruction: str,
    output: str,
    source: str,
    category: str,
    license: str,
    origin: str,
    input: str = "",
    messages: list[dict[str, str]] | None = None,
    **private: Any,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": id,
        "instruction": instruction,
        "input": input,
        "output": output,
        "source": source,
        "category": category,
        "license": license,
    }
    if messages:
        rec["messages"] = messages
    rec["_origin"] = origin
    for key, value in private.items():
        rec[f"_{key}"] = value
    return rec


def public(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as written to train/val: contract keys only, in a stable order."""
    out = {k: rec.get(k, "") for k in OUTPUT_KEYS}
    if rec.get("messages"):
        out["messages"] = rec["messages"]
    return out


def prompt_text(rec: dict[str, Any]) -> str:
    """What the model is asked (user turns), used for decontamination."""
    if rec.get("messages"):
        return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "user")
    return f"{rec.get('instruction', '')}\n{rec.get('input', '')}".strip()


def answer_text(rec: dict[str, Any]) -> str:
    if rec.get("messages"):
        return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "assistant")
    return str(rec.get("output") or "")


def full_text(rec: dict[str, Any]) -> str:
    if rec.get("messages"):
        return "\n".join(m["content"] for m in rec["messages"])
    return f"{rec.get('instruction', '')}\n{rec.get('input', '')}\n{rec.get('output', '')}"


_SPACE_PUNCT = re.compile(r"[\s\u3000]+|[^\w\u4e00-\u9fff]+", re.UNICODE)


def normalize(text: str) -> str:
    """NFKC, lower case, whitespace and punctuation removed; digits kept (12 != 13)."""
    return _SPACE_PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def map_text(rec: dict[str, Any], fn: Any) -> dict[str, Any]:
    """Apply ``fn(str) -> str`` to every text field (and every message) of a record."""
    for key in ("instruction", "input", "output"):
        if rec.get(key):
            rec[key] = fn(rec[key])
    if rec.get("messages"):
        rec["messages"] = [
            {"role": m["role"], "content": fn(m["content"])} for m in rec["messages"]
        ]
    return rec


# Words of criminal law and procedure a consultation about a crime uses.
CRIME_RE = re.compile(
    "犯罪|刑事|诈骗|被骗|盗窃|偷|抢劫|抢夺|贪污|受贿|行贿|举报|报警|报案|立案|拘留|逮捕|"
    "取保候审|判刑|判处|量刑|缓刑|故意伤害|轻伤|重伤|杀人|强奸|猥亵|敲诈|勒索|吸毒|贩毒|"
    "赌博|醉驾|酒驾|肇事逃逸|正当防卫|洗钱|传销|非法集资|罪"
)


def is_crime_related(text: str) -> bool:
    """Whether a question is about a crime (victims, thresholds, procedure, reporting)."""
    return CRIME_RE.search(text) is not None
