"""One grounded answer checked: each citation (exists? given? does the sentence that restates it
say what it says?), the marks and corrections that go into the text, and the ``citations`` list
of a response.

A citation whose sentence restates another given article's words (``supported`` false) is either
corrected, its number rewritten to the article the words come from (``correct``, the server's
default: the answer then states the law truly, where a mark leaves a false statement beside its
warning), or marked at its sentence's end. Only a citation that is its claim's only one is
corrected (in ``第264条、第266条`` the list shares its words, and no number of it is the one
that is wrong), and only to a given article the words restate clearly (``support.judge``). The
rewrite starts at ``第`` when the law stays the same; a bare citation of another law
(``民法典第N条`` over 刑法's words) is marked, since a stream may have sent its name already.

Used by the server (``server.grounding.Grounded``) and, in process, by the evaluation, so both
report the same verdicts for the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from legal_edge.statutes.citations import Citation
from legal_edge.statutes.flags import Mark, shift
from legal_edge.statutes.index import ArticleRecord, StatuteIndex, Verification
from legal_edge.statutes.prompt import ArticleLike, article_heading
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
    law: str | None = None  # the cited law's official title (None: the index knows no such law)


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
        rec, law = v.record, index.resolve_law(v.law)
        given = numbers.get((rec.law, rec.number)) if rec is not None and v.verified else None
        claim = owner.get(v.start)
        if claim is None:
            out.append(Mention(v, given, None, Support(None, 0.0), law))
            continue
        words = text[claim.start : claim.end]
        group = {c.start for c in claim.cites}
        siblings = [w.record for w in checks if w.start in group and w.start != v.start]
        sib_texts = [r.text for r in siblings if r is not None]
        others = {k: t for k, t in texts.items() if t not in sib_texts}
        sup = judge(words, rec.text if rec is not None else None, others)
        if sup.supported is not True and any(overlap(words, t) >= THRESHOLD for t in sib_texts):
            sup = Support(None, sup.overlap)  # the words are a sibling's in the same list
        out.append(Mention(v, given, claim, sup, law))
    return out


def correction(m: Mention, article: ArticleRecord) -> Mark | None:
    """``m``'s citation rewritten to ``article``: its number (from ``第``) when the law is the
    article's (``《刑法》第三百三十四条``, ``刑法第三百三十四条``, a list's ``第三百三十四条``),
    else the article's whole heading in its place; None for a bare citation of another law,
    whose name a stream may have sent before its ``第`` came (it is marked instead)."""
    v = m.check
    number = v.raw.index("第", v.raw.find("》") + 1)
    if m.law == article.law:
        return Mark(v.start + number, 1 + v.start, article.label, v.end)
    if v.form == "bare":
        return None
    at = v.start if v.form == "headed" else v.start + number
    heading = article_heading(cast(ArticleLike, article))  # frozen: read-only attributes
    return Mark(at, 1 + v.start, heading, v.end)


def support_marks(
    found: Sequence[Mention], articles: Sequence[ArticleRecord] = (), correct: bool = False
) -> list[Mark]:
    """For each citation whose sentence restates another given article (of ``articles``): with
    ``correct``, the citation rewritten to that article when it is its claim's only one, else a
    mark after the sentence."""
    out = []
    for m in found:
        if m.claim is None or m.support.supported is not False or m.support.source is None:
            continue
        fix = None
        if correct and len(m.claim.cites) == 1 and m.support.source <= len(articles):
            fix = correction(m, articles[m.support.source - 1])
        if fix is None:
            mark = MISATTRIBUTED.format(m.support.source)
            fix = Mark(m.claim.sentence_end, 1 + m.claim.cites[0].start, mark)
        out.append(fix)
    return out


def correction_of(m: Mention, marks: Sequence[Mark]) -> Mark | None:
    """The correction ``marks`` made of ``m``'s citation, if any."""
    return next((k for k in marks if k.end is not None and k.end == m.check.end), None)


def _mention_entry(m: Mention, marks: list[Mark]) -> dict[str, Any]:
    entry = {
        "start": shift(m.check.start, marks),
        "end": shift(m.check.end, marks, end=True),
        "cited_as": m.check.raw,
        "exists": m.check.verified,
        "supported": m.support.supported,
        "overlap": m.support.overlap,
        "restates": m.support.source,
        "restates_overlap": m.support.source_overlap,
        "corrected_from": None,  # the citation as the model wrote it, when corrected
        "corrected_overlap": None,  # ... and the claim's overlap with the article it named
    }
    fix = correction_of(m, marks)
    if fix is not None:  # now it names the article whose words the sentence restates
        entry.update(
            cited_as=m.check.raw[: fix.pos - m.check.start] + fix.text,
            exists=True,
            supported=True,
            overlap=m.support.source_overlap,
            restates=None,
            restates_overlap=None,
            corrected_from=m.check.raw,
            corrected_overlap=m.support.overlap,  # against the article it named before
        )
    return entry


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
    cited: dict[tuple[str, str], dict[str, Any]] = {}  # articles cited but not given
    for m in found:
        v, rec = m.check, m.check.record
        key = (rec.law, rec.number) if rec is not None else (v.law, v.article)
        mention = _mention_entry(m, marks)
        entry: dict[str, Any] | None
        if mention["corrected_from"] is not None and m.support.source is not None:
            entry = out[m.support.source - 1]  # the given article it now cites
        elif m.given is not None:
            entry = out[m.given - 1]
        else:
            entry = cited.get(key)
        if entry is None:
            entry = _entry(rec, None) if rec is not None else _missing(v, index)
            cited[key] = entry
            out.append(entry)
        entry["mentions"].append(mention)
        if entry["cited_as"] is None:
            entry.update(
                cited_as=mention["cited_as"],
                exists=mention["exists"],
                verified=mention["exists"],
                reason=_reason(entry, v, mention),
                start=mention["start"],
                end=mention["end"],
            )
    for e in out:
        if e["mentions"]:
            e["supported"] = _aggregate(e["mentions"])
            best = max(e["mentions"], key=lambda x: x["overlap"])
            e["overlap"] = best["overlap"]
            wrong = next((x for x in e["mentions"] if x["supported"] is False), None)
            e["restates"] = wrong["restates"] if wrong else None
            fixed = [x["corrected_from"] for x in e["mentions"] if x["corrected_from"]]
            e["corrected_from"] = fixed[0] if fixed else None
    return out


def _reason(entry: dict[str, Any], v: Verification, mention: dict[str, Any]) -> str:
    """Why the entry's first mention exists or not; a corrected one names a given article."""
    if mention["corrected_from"] is None:
        return v.reason
    return f"in force since {entry['effective_from']} (corrected from {v.raw})"


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
        # how the answer first wrote a mention that the server rewrote to this article's number
        "corrected_from": None,
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
