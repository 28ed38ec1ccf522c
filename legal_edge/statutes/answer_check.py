"""One grounded answer checked: each citation (exists? given? does the sentence that restates it
say what it says?), the marks that go into the text, and the ``citations`` list of a response.

Used by the server (``server.grounding.Grounded``) and, in process, by the evaluation, so both
report the same verdicts for the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from legal_edge.statutes.citations import Citation
from legal_edge.statutes.flags import Mark, shift
from legal_edge.statutes.index import ArticleRecord, StatuteIndex, Verification
from legal_edge.statutes.support import THRESHOLD, Claim, Support, claims, judge, overlap

# After a sentence that restates another given article than the one it cites. The mark names the
# article by its number in the prompt's block (as ``citations[].given`` does) and never writes
# ``第N条`` itself, so no reader of the marked text takes the mark for a citation.
MISATTRIBUTED = "〔未核实：此句所述并非所引条文的内容，而与参考法条[{}]相符〕"


@dataclass(frozen=True)
class Mention:
    """One citation in an answer, checked."""

    check: Verification  # exists / in force, and the record
    given: int | None  # its number in the prompt's 参考法条 block; None: not given
    claim: Claim | None  # the words it is taken to restate; None: its sentence has not ended
    support: Support[int]  # ``source``: the given number the words come from


def mentions(
    index: StatuteIndex,
    articles: Sequence[ArticleRecord],
    text: str,
    date: str | None = None,
    final: bool = True,
) -> list[Mention]:
    """Every citation in ``text`` checked against the index and the ``articles`` given."""
    checks = index.verify_citations(text, date)
    cites = [Citation(v.law, v.article, v.start, v.end, v.raw, v.form) for v in checks]
    numbers = {(a.law, a.number): i for i, a in enumerate(articles, start=1)}
    texts = {i: a.text for i, a in enumerate(articles, start=1)}
    owner = {c.start: cl for cl in claims(text, cites, final) for c in cl.cites}
    out = []
    for v in checks:
        rec = v.record
        given = numbers.get((rec.law, rec.number)) if rec is not None and v.verified else None
        claim = owner.get(v.start)
        if claim is None:
            out.append(Mention(v, given, None, Support(None, 0.0)))
            continue
        words = text[claim.start : claim.end]
        group = {c.start for c in claim.cites}
        siblings = [w.record for w in checks if w.start in group and w.start != v.start]
        sib_texts = [r.text for r in siblings if r is not None]
        others = {k: t for k, t in texts.items() if t not in sib_texts}
        sup = judge(words, rec.text if rec is not None else None, others)
        if sup.supported is not True and any(overlap(words, t) >= THRESHOLD for t in sib_texts):
            sup = Support(None, sup.overlap)  # the words are a sibling's in the same list
        out.append(Mention(v, given, claim, sup))
    return out


def support_marks(found: Sequence[Mention]) -> list[Mark]:
    """A mark after each sentence whose words come from another given article."""
    return [
        (m.claim.sentence_end, 1 + m.claim.cites[0].start, MISATTRIBUTED.format(m.support.source))
        for m in found
        if m.claim is not None and m.support.supported is False
    ]


def _mention_entry(m: Mention, marks: list[Mark]) -> dict[str, Any]:
    return {
        "start": shift(m.check.start, marks),
        "end": shift(m.check.end, marks, end=True),
        "cited_as": m.check.raw,
        "exists": m.check.verified,
        "supported": m.support.supported,
        "overlap": m.support.overlap,
        "restates": m.support.source,
        "restates_overlap": m.support.source_overlap,
    }


def _aggregate(ms: list[dict[str, Any]]) -> bool | None:
    """An article's verdict over its mentions: false if any is, else true if any is."""
    verdicts = {m["supported"] for m in ms}
    return False if False in verdicts else True if True in verdicts else None


def citation_entries(
    index: StatuteIndex,
    articles: Sequence[ArticleRecord],
    found: Sequence[Mention],
    marks: list[Mark],
) -> list[dict[str, Any]]:
    """The response's ``citations``: the given articles, then each other cited article; an
    entry the answer cites carries its verdicts and the offsets of every mention in the text
    the client received (``marks`` inserted)."""
    out = [_entry(a, i) for i, a in enumerate(articles, start=1)]
    given = {(a.law, a.number): e for a, e in zip(articles, out, strict=True)}
    cited: dict[tuple[str, str], dict[str, Any]] = {}  # articles cited but not given
    for m in found:
        v, rec = m.check, m.check.record
        key = (rec.law, rec.number) if rec is not None else (v.law, v.article)
        entry = given.get(key) if m.given is not None else cited.get(key)
        if entry is None:
            entry = _entry(rec, None) if rec is not None else _missing(v, index)
            cited[key] = entry
            out.append(entry)
        entry["mentions"].append(_mention_entry(m, marks))
        if entry["cited_as"] is None:
            first = entry["mentions"][0]
            entry.update(
                cited_as=v.raw,
                exists=v.verified,
                verified=v.verified,
                reason=v.reason,
                start=first["start"],
                end=first["end"],
            )
    for e in out:
        if e["mentions"]:
            e["supported"] = _aggregate(e["mentions"])
            best = max(e["mentions"], key=lambda x: x["overlap"])
            e["overlap"] = best["overlap"]
            wrong = next((x for x in e["mentions"] if x["supported"] is False), None)
            e["restates"] = wrong["restates"] if wrong else None
    return out


def _entry(rec: ArticleRecord, given: int | None) -> dict[str, Any]:
    return {
        "law": rec.law,
        "article": rec.number,
        "label": rec.label,
        "text": rec.text,
        "version_date": rec.version,
        "effective_from": rec.effective_from,
        "effective_to": rec.effective_to,
        "status": rec.status,
        "origin": rec.origin,
        "licence": rec.licence,
        "source": rec.source,
        "given": given,  # its number in the prompt's 参考法条 block; None: only cited
        "score": None if rec.score is None else round(rec.score, 3),
        **_unchecked(),
    }


def _unchecked() -> dict[str, Any]:
    return {
        "cited_as": None,  # how the answer first wrote it; None: the answer does not cite it
        "exists": None,  # the article exists and is in force (on the request's date)
        "verified": None,  # deprecated: the same as ``exists``
        "reason": None,
        "supported": None,  # see docs/grounding.md: true / false / null (names it only)
        "overlap": None,
        "restates": None,  # the given number whose words a mention restates instead
        "start": None,  # the first mention's offsets in the answer text
        "end": None,
        "mentions": [],
    }


def _missing(v: Verification, index: StatuteIndex) -> dict[str, Any]:
    """An entry for a cited article the index does not hold."""
    empty = dict.fromkeys(("label", "text", "version_date", "effective_from", "effective_to"))
    return {
        "law": index.resolve_law(v.law) or v.law,
        "article": v.article,
        **empty,
        "status": v.status,
        "origin": None,
        "licence": None,
        "source": None,
        "given": None,
        "score": None,
        **_unchecked(),
    }
