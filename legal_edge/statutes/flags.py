"""Unverified citations marked in an answer's own text: ``〔未核实：…〕`` right after each one.

``flag_text`` marks a whole answer; ``CitationGuard`` marks a stream as it goes, holding text
back only from a ``《`` until the citation it may start is complete (``…第N条`` and the next
character, or a list ``第N条、第M条``) or clearly is not one (``《红楼梦》里`` goes out at ``里``),
so a lawyer never reads an invented article before its mark and waits no longer than that.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.index import Verification
from legal_edge.statutes.numbers import NUMERAL_CHARS

FLAG = "〔未核实：{}〕"
_N = rf"[{NUMERAL_CHARS}\d]"
_ARTICLE = rf"第\s*{_N}+\s*条(?:\s*之\s*{_N}+)?"
_ARTICLE_PREFIX = rf"第\s*(?:{_N}+\s*(?:条\s*(?:之\s*{_N}*)?)?)?"
_SEP = r"(?:、|，|,|和|及|以及|或者?)"  # as citations.FOLLOW_RE
_SEP_PREFIX = r"(?:、|，|,|和|及|以及?|或者?)"
# After 》: a complete citation (with any list of further articles) ...
_COMPLETE = re.compile(rf"\s*(?:的\s*)?{_ARTICLE}(?:\s*{_SEP}\s*{_ARTICLE})*")
# ... and everything that may still grow into one (or into a longer one).
_GROWING = re.compile(
    rf"\s*(?:的\s*)?(?:{_ARTICLE}(?:\s*{_SEP}\s*{_ARTICLE})*"
    rf"(?:\s*{_SEP_PREFIX}\s*(?:{_ARTICLE_PREFIX})?)?|{_ARTICLE_PREFIX})?"
)
MAX_NAME = 80  # as citations.BRACKETED_RE


def short_reason(v: Verification) -> str:
    """Why a citation is not verified, in the answer's language (``v.reason`` has the detail)."""
    if v.status == "superseded":
        return "仅见于已被修订的旧版本，现行版本无此条"
    if v.record is not None:
        return "所涉日期该条尚未施行"
    if "repealed" in v.reason:
        return "该法已废止"
    if v.reason.startswith("no law named"):
        return "法条库中没有这部法律"
    return "该法没有这一条"


def flag_text(text: str, verify: Callable[[str], list[Verification]]) -> str:
    """``text`` with ``〔未核实：…〕`` after each citation ``verify`` does not confirm."""
    cites = find_citations(text)
    if not cites:
        return text
    checks = verify(text)  # one per citation, in the same order (verify_citations)
    out, pos = [], 0
    for cite, check in zip(cites, checks, strict=True):
        if not check.verified:
            out += [text[pos : cite.end], FLAG.format(short_reason(check))]
            pos = cite.end
    return "".join([*out, text[pos:]])


def citation_end(held: str) -> int | None:
    """For text starting with ``《``: where the citation it starts ends (a list of articles
    included), 0 if it starts none, None if the text so far does not tell yet."""
    close = held.find("》")
    name = held[1:] if close < 0 else held[1:close]
    if "\n" in name or "《" in name or len(name) > MAX_NAME or close == 1:
        return 0
    if close < 0:
        return None
    rest = held[close + 1 :]
    if _GROWING.fullmatch(rest):
        return None
    m = _COMPLETE.match(rest)
    return close + 1 + m.end() if m else 0


class CitationGuard:
    """Marks unverified citations in a stream of text pieces (see module doc)."""

    def __init__(self, verify: Callable[[str], list[Verification]]) -> None:
        self.verify = verify
        self.held = ""

    def push(self, text: str) -> str:
        """The text that may go out now, marked; the rest is held."""
        self.held += text
        out = []
        while self.held:
            start = self.held.find("《")
            if start < 0:
                out.append(self.held)
                self.held = ""
                break
            out.append(self.held[:start])
            self.held = self.held[start:]
            end = citation_end(self.held)
            if end is None:
                break
            if end == 0:
                out.append("《")
                self.held = self.held[1:]
                continue
            out.append(flag_text(self.held[:end], self.verify))
            self.held = self.held[end:]
        return "".join(out)

    def flush(self) -> str:
        """The held rest at the end of the stream, marked."""
        rest, self.held = self.held, ""
        return flag_text(rest, self.verify)
