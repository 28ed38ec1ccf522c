"""Quality filters: each is a named rule, configurable, and counted in the report.

``check(record)`` returns the first rule a record breaks as ``(rule, reason)`` or ``None``. The rule
names are stable (tests and reports use them): ``too_short``, ``too_long``, ``short_answer``,
``language``, ``mojibake``, ``placeholder``, ``empty_answer``, ``copied_answer``, ``refusal``.
"""

from __future__ import annotations

import re
from typing import Any

from recipes.shared.records import answer_text, full_text, normalize

from .config import FilterConfig

RULES = (
    "too_short",
    "too_long",
    "short_answer",
    "language",
    "mojibake",
    "placeholder",
    "empty_answer",
    "copied_answer",
    "refusal",
)

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_RE = re.compile(r"[A-Za-z]")
MOJIBAKE_RE = re.compile(
    "\ufffd|锟斤拷|烫烫烫|屯屯屯"
    # UTF-8 bytes read as Latin-1/CP1252: 'ä¸­', 'â€œ', 'Ã©', 'ï¼Œ'
    "|[ÃÂâäåæçèéï][\u0080-\u00bf€œ¦™‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜š›žŸ]"
    "|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ue000-\uf8ff]"
)
PLACEHOLDER_RE = re.compile(
    r"第[XxＸｘ×]+条"  # 第X条
    r"|(?<![A-Za-z])[XxＸｘ]{2,}(?:法|条|元|年|月|日|市|省|县|区|公司|号|罪)"  # XX法, XX元
    r"|\{\{?\s*[A-Za-z_][A-Za-z0-9_]*\s*\}?\}"  # {name} / {{name}}
    r"|【\s*(?:填写|待填|待补充|此处)[^】]*】|\[(?:待补充|TODO|TBD)\]"
)
REFUSAL_ANYWHERE_RE = re.compile(
    r"作为(?:一个|一名)?(?:AI|人工智能)(?:语言模型|助手|模型)?|as an ai (?:language )?model", re.I
)
REFUSAL_START_RE = re.compile(
    r"^(?:很?抱歉|对不起|sorry)?[，,。！!\s]*(?:我|I)?\s*"
    r"(?:无法|不能|不可以|没有办法|cannot|can't|am unable to)"
    r"(?:为您|帮您|给您)?(?:提供|回答|协助|帮助|给出|做出|help|assist|provide|answer)",
    re.I,
)


def detect_language(text: str) -> str:
    """'zh', 'en' or 'other' from the share of CJK and Latin letters."""
    cjk = len(CJK_RE.findall(text))
    latin = len(LATIN_RE.findall(text))
    if cjk and cjk * 4 >= latin:  # a Chinese text quoting English terms is still Chinese
        return "zh"
    if latin and latin >= 0.4 * len(re.sub(r"\s", "", text)):
        return "en"
    return "zh" if cjk else "other"


class Filters:
    """Applies the enabled rules in a fixed order; first failing rule wins."""

    def __init__(self, cfg: FilterConfig) -> None:
        self.cfg = cfg

    def check(self, rec: dict[str, Any]) -> tuple[str, str] | None:
        cfg = self.cfg
        text = full_text(rec)
        answer = answer_text(rec)
        n = len(text.strip())
        if cfg.copied_answer and not answer.strip():
            return "empty_answer", "the answer is empty"
        if n < cfg.min_chars:
            return "too_short", f"{n} characters < min_chars {cfg.min_chars}"
        if n > cfg.max_chars:
            return "too_long", f"{n} characters > max_chars {cfg.max_chars}"
        if len(answer.strip()) < cfg.min_output_chars:
            return (
                "short_answer",
                f"answer of {len(answer.strip())} < min_output_chars {cfg.min_output_chars}",
            )
        if cfg.languages:
            lang = detect_language(text)
            if lang not in cfg.languages:
                return "language", f"detected language {lang!r} not in {list(cfg.languages)}"
        if cfg.mojibake:
            m = MOJIBAKE_RE.search(text)
            if m:
                return (
                    "mojibake",
                    f"broken encoding near {text[max(0, m.start() - 8) : m.end() + 8]!r}",
                )
        if cfg.placeholders:
            m = PLACEHOLDER_RE.search(text)
            if m:
                return "placeholder", f"unresolved placeholder {m.group(0)!r}"
        if cfg.copied_answer:
            reason = self._copied(rec)
            if reason:
                return "copied_answer", reason
        if cfg.refusals and rec.get("category") not in cfg.refusal_exempt_categories:
            m = REFUSAL_ANYWHERE_RE.search(answer) or REFUSAL_START_RE.search(answer.strip()[:60])
            if m:
                return "refusal", f"boilerplate refusal {m.group(0)!r} in non-safety data"
        return None

    @staticmethod
    def _copied(rec: dict[str, Any]) -> str:
        if rec.get("messages"):
            prev = ""
            for m in rec["messages"]:
                if m["role"] == "assistant":
                    if not m["content"].strip():
                        return "an assistant turn is empty"
                    if normalize(m["content"]) == normalize(prev):
                        return "an assistant turn repeats the user turn"
                prev = m["content"]
            return ""
        raw = str(rec.get("output") or "").strip()
        out = ""
        for key in ("instruction", "input"):
            other = str(rec.get(key) or "").strip()
            if abs(len(other) - len(raw)) > 0.3 * len(raw) + 8:
                continue  # lengths too different to be a copy; skip the costly normalize
            out = out or normalize(raw)
            if out and out == normalize(other):
                return f"the answer repeats the {key}"
        return ""
