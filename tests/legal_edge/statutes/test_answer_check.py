"""Misattributed citations corrected (or marked) in the text, whole and streamed, with the
``citations`` evidence pointing at the text as sent: the issue's drunk-driving answer over the
small real statute index (刑法 第一百三十三条, 第一百三十三条之一, 第三百三十四条 given)."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.statutes.answer_check import (
    MISATTRIBUTED,
    citation_entries,
    mentions,
    support_marks,
)
from legal_edge.statutes.flags import CitationGuard, Mark, flag_text
from legal_edge.statutes.index import ArticleRecord, StatuteIndex

pytestmark = pytest.mark.slow  # builds the small index

# the words of 第三百三十四条 (illegal blood collection) under the drunk-driving article's number
WORDS = (
    "非法采集、供应血液或者制作、供应血液制品，不符合国家规定的标准，足以危害人体健康的，"
    "处五年以下有期徒刑"
)
HEADED = f"根据《中华人民共和国刑法》第一百三十三条之一规定，{WORDS}。"
BARE = f"根据刑法第133条之一的规定，{WORDS}。"
LISTED = f"《中华人民共和国刑法》第一百三十三条、第一百三十三条之一规定，{WORDS}。"
TAIL = "醉酒驾驶的，依照《中华人民共和国刑法》第一百三十三条之一处罚。"


@pytest.fixture(scope="module")
def index(small_statute_index: Path) -> StatuteIndex:
    return StatuteIndex(small_statute_index)


@pytest.fixture(scope="module")
def given(index: StatuteIndex) -> list[ArticleRecord]:
    found = [index.lookup("刑法", a) for a in ("133", "133-1", "334")]
    assert all(found)
    return [a for a in found if a is not None]


def _sent(index: StatuteIndex, given: list[ArticleRecord], text: str, correct: bool) -> str:
    def support(t: str, final: bool) -> list[Mark]:
        return support_marks(mentions(index, given, t, final=final), given, correct)

    return flag_text(text, index.verify_citations, support, hold=correct)


@pytest.mark.parametrize(
    ("text", "wrote", "fixed"),
    [
        (
            HEADED,
            "《中华人民共和国刑法》第一百三十三条之一",
            "《中华人民共和国刑法》第三百三十四条",
        ),
        # the law as the answer wrote it, the article's own numeral
        (BARE, "刑法第133条之一", "刑法第三百三十四条"),
    ],
    ids=["headed", "bare"],
)
def test_a_misattributed_citation_is_corrected_to_the_article_it_restates(
    index: StatuteIndex, given: list[ArticleRecord], text: str, wrote: str, fixed: str
) -> None:
    sent = _sent(index, given, text + TAIL, correct=True)
    assert sent == text.replace(wrote, fixed) + TAIL
    assert "〔未核实" not in sent
    # the text as sent, checked again: every citation in it is supported or names only
    again = mentions(index, given, sent)
    assert [m.support.supported for m in again] == [True, None]
    # citations[]: the corrected mention sits under the article it now names, with the evidence
    found = mentions(index, given, text + TAIL)
    marks = support_marks(found, given, correct=True)
    entries = citation_entries(index, given, found, marks)
    blood, drunk = entries[2], entries[1]
    [m] = blood["mentions"]
    assert m["cited_as"] == fixed and sent[m["start"] : m["end"]] == fixed
    assert m["corrected_from"] == wrote and m["supported"] is True
    assert m["overlap"] > 0.9 > 0.3 > m["corrected_overlap"]
    assert blood["supported"] is True and blood["corrected_from"] == wrote
    assert blood["exists"] is True and blood["cited_as"] == fixed
    # 第一百三十三条之一 keeps only its own mention in TAIL (names it, applies it)
    assert [x["cited_as"] for x in drunk["mentions"]] == [
        "《中华人民共和国刑法》第一百三十三条之一"
    ]
    assert sent[drunk["start"] : drunk["end"]] == "《中华人民共和国刑法》第一百三十三条之一"
    assert drunk["supported"] is None and drunk["corrected_from"] is None


def test_marking_stays_selectable(index: StatuteIndex, given: list[ArticleRecord]) -> None:
    sent = _sent(index, given, HEADED, correct=False)
    assert sent == HEADED[:-1] + MISATTRIBUTED.format(3) + "。"


def test_a_list_sharing_the_words_is_marked_not_corrected(
    index: StatuteIndex, given: list[ArticleRecord]
) -> None:
    sent = _sent(index, given, LISTED, correct=True)
    assert sent == LISTED[:-1] + MISATTRIBUTED.format(3) + "。"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 400])
def test_a_stream_never_sends_the_uncorrected_citation(
    index: StatuteIndex, given: list[ArticleRecord], size: int
) -> None:
    text = HEADED + BARE + LISTED + TAIL
    whole = _sent(index, given, text, correct=True)

    def support(t: str, final: bool) -> list[Mark]:
        return support_marks(mentions(index, given, t, final=final), given, True)

    guard = CitationGuard(index.verify_citations, support, hold=True)
    out = ""
    for i in range(0, len(text), size):
        out += guard.push(text[i : i + size])
        # what has gone out is a prefix of the corrected text: never the wrong number
        assert whole.startswith(out), (i, out)
    assert out + guard.flush() == whole
    assert whole.count("第三百三十四条") == 2 and whole.count(MISATTRIBUTED.format(3)) == 1


def test_a_held_citation_waits_only_for_its_sentence(
    index: StatuteIndex, given: list[ArticleRecord]
) -> None:
    def support(t: str, final: bool) -> list[Mark]:
        return support_marks(mentions(index, given, t, final=final), given, True)

    guard = CitationGuard(index.verify_citations, support, hold=True)
    assert guard.push("醉驾的处罚，") == "醉驾的处罚，"  # no citation: out at once
    assert guard.push("根据刑法") == ""  # a law's name: 第 may follow
    assert guard.push("第133条之一") == ""  # a citation: held until its sentence ends
    assert guard.push("，处拘役") == ""
    assert guard.push("。另") == "根据刑法第133条之一，处拘役。另"
    assert guard.push("外第一次") == "外第一次"  # 第一次 is no article
