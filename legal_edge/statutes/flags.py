"""Unverified citations marked in an answer's own text: ``〔未核实：…〕`` right after each one,
and (given a support check) a mark where a sentence restates another article than it cites.

``flag_text`` marks a whole answer; ``CitationGuard`` marks a stream as it goes, holding text
back only from a ``《`` until the citation it may start is complete (``…第N条`` and the next
character, or a list ``第N条、第M条``) or clearly is not one (``《红楼梦》里`` goes out at ``里``),
so a lawyer never reads an invented article before its mark and waits no longer than that. A
sentence's mark goes in where the sentence ends, so nothing is held back for it.
"""

from __future__ import annotations

from collections.abc import Callable

from legal_edge.statutes.citations import citation_end
from legal_edge.statutes.index import Verification
from legal_edge.statutes.support import SENTENCE_END

FLAG = "〔未核实：{}〕"
INLINE = ("headed", "follow")  # the forms a stream can hold back (they start with 《)


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


# A mark inserted into the answer: (where, in the model's own text; 0 for a citation's mark,
# 1 + the citation's start for a sentence's, so a citation's comes first where both fall and
# each sentence mark is placed once; the mark's text)
Mark = tuple[int, int, str]
# The support marks of a text (``Grounded.support_marks``): the text, and whether it has ended
SupportMarks = Callable[[str, bool], list[Mark]]


def flag_marks(text: str, verify: Callable[[str], list[Verification]]) -> list[Mark]:
    """A ``〔未核实：…〕`` after each ``《…》`` citation ``verify`` does not confirm (a bare
    ``刑法第N条`` is checked in ``citations`` but not marked: a stream cannot hold it back)."""
    if "《" not in text:
        return []
    return [
        (v.end, 0, FLAG.format(short_reason(v)))
        for v in verify(text)
        if v.form in INLINE and not v.verified
    ]


def flag_text(
    text: str,
    verify: Callable[[str], list[Verification]],
    support: SupportMarks | None = None,
) -> str:
    """``text`` with its marks: unverified citations (and unsupported restatements when
    ``support`` is given), exactly as ``CitationGuard`` marks the same text streamed."""
    guard = CitationGuard(verify, support)
    return guard.push(text) + guard.flush()


def shift(pos: int, marks: list[Mark], end: bool = False) -> int:
    """Where position ``pos`` of the model's text is in the marked text (``end``: an end
    offset, which marks inserted exactly there do not move)."""
    return pos + sum(len(m) for p, _, m in marks if p < pos or (p == pos and not end))


class CitationGuard:
    """Marks a stream of text pieces (see module doc): citations when they are complete,
    restating sentences when they end."""

    def __init__(
        self, verify: Callable[[str], list[Verification]], support: SupportMarks | None = None
    ) -> None:
        self.verify, self.support = verify, support
        self.raw = ""  # the model's text so far
        self.done = 0  # raw[:done] has gone out
        self.decided = 0  # raw[:decided] is final: its citations are checked
        self.marks: list[Mark] = []
        self._supported: set[tuple[int, int]] = set()  # sentence marks already placed

    def push(self, text: str) -> str:
        """The text that may go out now, marked; the rest is held."""
        self.raw += text
        self._decide(final=False)
        return self._emit(last=False)

    def flush(self) -> str:
        """The held rest at the end of the stream, marked."""
        self._decide(final=True)
        return self._emit(last=True)

    def _decide(self, final: bool) -> None:
        raw, pos, before = self.raw, self.decided, self.decided
        while (i := raw.find("《", pos)) >= 0:
            end = citation_end(raw[i:])
            if end is None and not final:
                self.decided = i
                break
            if end == 0:
                pos = i + 1
                continue
            end = len(raw) - i if end is None else end
            self.marks += [(i + p, k, m) for p, k, m in flag_marks(raw[i : i + end], self.verify)]
            pos = i + end
        else:
            self.decided = len(raw)
        if self.support is not None and (
            final or any(ch in SENTENCE_END for ch in raw[before : self.decided])
        ):
            for mark in self.support(raw[: self.decided], final):
                if mark[:2] not in self._supported:
                    self._supported.add(mark[:2])
                    self.marks.append(mark)

    def _emit(self, last: bool) -> str:
        stop = self.decided
        marks = sorted(
            (m for m in self.marks if self.done <= m[0] < stop or (last and m[0] == stop)),
            key=lambda m: (m[0], m[1]),
        )
        out, pos = [], self.done
        for p, _, m in marks:
            out += [self.raw[pos:p], m]
            pos = p
        out.append(self.raw[pos:stop])
        self.done = stop
        return "".join(out)
