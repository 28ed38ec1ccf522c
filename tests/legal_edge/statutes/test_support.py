"""Supported citations: the issue's two misattributed answers, with the real article texts from
../shared/legal-data, and the restating sentence found beside its citation."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.flags import CitationGuard, Mark, flag_text, shift
from legal_edge.statutes.support import claims, judge, overlap
from recipes.shared.statutes import parse_statute

DRUNK = (
    "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、供应血液制品，"
    "不符合国家规定的标准，足以危害人体健康的，处五年以下有期徒刑。"
)
QUIT = (
    "《中华人民共和国劳动合同法》第三十八条规定，劳动者提前三十日以书面形式通知用人单位，"
    "可以解除劳动合同。"
)


def _articles(legal_data: Path, rel: str) -> dict[str, str]:
    path = legal_data / "statutes" / rel
    law = parse_statute(path.read_text(encoding="utf-8"), path)
    return {a.article: a.text for a in law.articles}


@pytest.fixture(scope="module")
def criminal(legal_data: Path) -> dict[str, str]:
    return _articles(legal_data, "刑法/刑法.md")


@pytest.fixture(scope="module")
def labour(legal_data: Path) -> dict[str, str]:
    return _articles(legal_data, "社会法/劳动合同法(2012-12-28).md")


def _claim(text: str) -> str:
    [claim] = claims(text, find_citations(text))
    return text[claim.start : claim.end]


def test_drunk_driving_under_the_blood_articles_words_is_not_supported(criminal) -> None:
    given = {
        1: criminal["第一百三十三条"],
        2: criminal["第一百三十三条之一"],
        3: criminal["第三百三十四条"],
    }
    words = _claim(DRUNK)
    assert words.startswith("非法采集")  # 规定， is not part of the claim
    verdict = judge(words, criminal["第一百三十三条之一"], given)
    assert verdict.supported is False and verdict.source == 3
    assert verdict.overlap < 0.3 < 0.9 < (verdict.source_overlap or 0)
    # the same words under their own number are supported
    assert judge(words, criminal["第三百三十四条"], given).supported is True


def test_resignation_notice_under_article_38_is_article_37s(labour) -> None:
    given = {1: labour["第三十六条"], 2: labour["第三十七条"], 3: labour["第三十八条"]}
    verdict = judge(_claim(QUIT), labour["第三十八条"], given)
    assert verdict.supported is False and verdict.source == 2


def test_naming_an_article_and_applying_it_is_neither(criminal) -> None:
    text = (
        "你朋友的行为依照《中华人民共和国刑法》第一百三十三条之一，可能构成危险驾驶罪，"
        "建议尽快委托律师。"
    )
    verdict = judge(_claim(text), criminal["第一百三十三条之一"], {3: criminal["第三百三十四条"]})
    assert verdict.supported is None
    short = "依照《中华人民共和国刑法》第一百三十三条之一。"
    [claim] = claims(short, find_citations(short))
    assert claim.start == claim.end  # too few words on either side: names only
    assert judge("", criminal["第三百三十四条"], {}).supported is None


def test_words_before_the_citation_count_when_none_follow(criminal) -> None:
    text = (
        "在道路上醉酒驾驶机动车的，处拘役，并处罚金（《中华人民共和国刑法》第一百三十三条之一）。"
    )
    words = _claim(text)
    assert words.startswith("在道路上醉酒驾驶机动车")
    assert overlap(words, criminal["第一百三十三条之一"]) >= 0.5


def test_a_misattributed_sentence_is_marked_at_its_end_streamed_or_whole() -> None:
    def no_flags(text: str) -> list:
        return []

    def support(text: str, final: bool) -> list[Mark]:
        return [
            Mark(c.sentence_end, 1 + c.cites[0].start, "〔X〕")
            for c in claims(text, find_citations(text), final)
        ]

    text = DRUNK + "另见《刑法》第三条。"
    whole = flag_text(text, no_flags, support)
    assert whole == DRUNK[:-1] + "〔X〕。另见《刑法》第三条〔X〕。"
    for size in (1, 3, 7):
        guard = CitationGuard(no_flags, support)
        parts = [guard.push(text[i : i + size]) for i in range(0, len(text), size)]
        assert "".join(parts) + guard.flush() == whole
    marks = guard.marks
    start = find_citations(text)[1].start
    assert whole[shift(start, marks) :].startswith("《刑法》第三条")
