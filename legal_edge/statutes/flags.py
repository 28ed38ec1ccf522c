"""Unverified citations marked in an answer's own text: ``〔未核实：…〕`` right after each one,
and (given a support check) a mark where a sentence restates another article than it cites, or
the citation rewritten to the given article whose words the sentence restates.

``flag_text`` marks a whole answer; ``CitationGuard`` marks a stream as it goes, holding text
back only from a ``《`` until the citation it may start is complete (``…第N条`` and the next
character, or a list ``第N条、第M条``) or clearly is not one (``《红楼梦》里`` goes out at ``里``),
so a lawyer never reads an invented article before its mark and waits no longer than that. A
sentence's mark goes in where the sentence ends, so nothing is held back for it. A correction
rewrites the citation itself, which has gone out before its sentence ends; so a guard that may
correct (``hold``) holds each citation (any form, ``刑法第N条`` too) from where it may start until
its sentence ends, and a corrected heading is never sent uncorrected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from legal_edge.statutes.citations import citation_end, citation_start
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


class Mark(NamedTuple):
    """An edit of the model's text: ``text`` inserted at ``pos`` (``end`` None), or put in place
    of ``raw[pos:end]`` (a corrected citation). ``order``: 0 for a citation's mark, 1 + the
    citation's start for a sentence's mark or a correction, so a citation's mark comes first
    where both fall and each sentence's edit is placed once."""

    pos: int
    order: int
    text: str
    end: int | None = None

    @property
    def replaces(self) -> bool:
        return self.end is not None


# The support marks of a text (``Grounded.support_marks``): the text, and whether it has ended
SupportMarks = Callable[[str, bool], list[Mark]]


def flag_marks(text: str, verify: Callable[[str], list[Verification]]) -> list[Mark]:
    """A ``〔未核实：…〕`` after each ``《…》`` citation ``verify`` does not confirm (a bare
    ``刑法第N条`` is checked in ``citations`` but not marked: a stream cannot hold it back)."""
    if "《" not in text:
        return []
    return [
        Mark(v.end, 0, FLAG.format(short_reason(v)))
        for v in verify(text)
        if v.form in INLINE and not v.verified
    ]


def flag_text(
    text: str,
    verify: Callable[[str], list[Verification]],
    support: SupportMarks | None = None,
    hold: bool = False,
) -> str:
    """``text`` with its marks: unverified citations (and unsupported restatements when
    ``support`` is given), exactly as ``CitationGuard`` marks the same text streamed."""
    guard = CitationGuard(verify, support, hold)
    return guard.push(text) + guard.flush()


def shift(pos: int, marks: Sequence[Mark], end: bool = False) -> int:
    """Where position ``pos`` of the model's text is in the marked text (``end``: an end
    offset, which marks inserted exactly there do not move). A replaced span's start stays
    its replacement's start, its end becomes the replacement's end."""
    out = pos
    for m in marks:
        if m.end is None:
            out += len(m.text) if m.pos < pos or (m.pos == pos and not end) else 0
        elif m.end <= pos:
            out += len(m.text) - (m.end - m.pos)
    return out


class CitationGuard:
    """Marks a stream of text pieces (see module doc): citations when they are complete,
    restating sentences when they end. ``hold``: ``support`` may correct citations, so each is
    held until its sentence ends."""

    def __init__(
        self,
        verify: Callable[[str], list[Verification]],
        support: SupportMarks | None = None,
        hold: bool = False,
    ) -> None:
        self.verify, self.support, self.hold = verify, support, hold
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
            self.marks += [
                m._replace(pos=i + m.pos) for m in flag_marks(raw[i : i + end], self.verify)
            ]
            pos = i + end
        else:
            self.decided = len(raw)
        if self.support is not None and (
            final or any(ch in SENTENCE_END for ch in raw[before : self.decided])
        ):
            for mark in self.support(raw[: self.decided], final):
                if mark[:2] not in self._supported:
                    self._supported.add(mark[:2])
                    self._place(mark)

    def _place(self, mark: Mark) -> None:
        if mark.end is not None:  # a corrected citation: its unverified-mark was about the old
            self.marks = [m for m in self.marks if not (m.order == 0 and m.pos == mark.end)]
        self.marks.append(mark)

    def _stop(self, last: bool) -> int:
        """How far the text may go out: to what is decided, and with ``hold``, not past the
        first citation of a sentence that has not ended."""
        if last or not self.hold:
            return self.decided
        text = self.raw[: self.decided]
        begin = max(text.rfind(ch) for ch in SENTENCE_END) + 1
        start = citation_start(text, max(begin, self.done))
        return self.decided if start is None else start

    def _emit(self, last: bool) -> str:
        stop = self._stop(last)
        marks = sorted(
            (m for m in self.marks if self.done <= m.pos < stop or (last and m.pos == stop)),
            key=lambda m: (m.pos, m.order),
        )
        out, pos = [], self.done
        for m in marks:
            out += [self.raw[pos : m.pos], m.text]
            pos = m.pos if m.end is None else m.end
        out.append(self.raw[pos:stop])
        self.done = stop
        return "".join(out)
