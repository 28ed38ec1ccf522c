"""Unverified citations marked in text, whole and streamed, against the small real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.flags import CitationGuard, citation_end, flag_text
from legal_edge.statutes.index import StatuteIndex, Verification

ANSWER = (
    "依照《刑法》第二百六十四条、第九百九十九条处理；《红楼梦》里没有法条。"
    "《测试办法》第三条已删去，《中华人民共和国刑法》第一百三十三条之一 规定醉驾，"
    "《没有这部法》第1条，《刑法》第264条"
)


@pytest.fixture(scope="module")
def index(small_statute_index: Path) -> StatuteIndex:
    return StatuteIndex(small_statute_index)


@pytest.mark.slow
def test_each_unverified_citation_is_marked_with_why(index: StatuteIndex) -> None:
    marked = flag_text(ANSWER, index.verify_citations)
    assert "《刑法》第二百六十四条、第九百九十九条〔未核实：该法没有这一条〕处理" in marked
    assert "《测试办法》第三条〔未核实：仅见于已被修订的旧版本，现行版本无此条〕已删去" in marked
    assert "《没有这部法》第1条〔未核实：法条库中没有这部法律〕" in marked
    # verified ones and non-citations are left alone
    assert "《中华人民共和国刑法》第一百三十三条之一 规定" in marked
    assert marked.endswith("《刑法》第264条") and "《红楼梦》里" in marked
    assert marked.count("〔未核实") == 3
    # the same check on a date when the old version was in force: 第三条 is verified then
    then = flag_text(ANSWER, lambda t: index.verify_citations(t, "2020-01-01"))
    assert "《测试办法》第三条已删去" in then


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 400])
def test_a_stream_is_marked_exactly_like_the_whole_text(index: StatuteIndex, size: int) -> None:
    guard = CitationGuard(index.verify_citations)
    pieces = [guard.push(ANSWER[i : i + size]) for i in range(0, len(ANSWER), size)]
    assert "".join(pieces) + guard.flush() == flag_text(ANSWER, index.verify_citations)


def test_text_is_held_only_while_a_citation_may_be_forming() -> None:
    def all_verified(text: str) -> list[Verification]:
        return [
            Verification(c.raw, c.law, c.article, "in_force", True, "ok")
            for c in find_citations(text)
        ]

    guard = CitationGuard(all_verified)
    assert guard.push("依照") == "依照"  # no 《: out at once
    assert guard.push("《刑法》第二百") == ""  # could still be a citation
    assert guard.push("六十四条") == ""  # 之一 or 、第M条 may follow
    assert guard.push("处理") == "《刑法》第二百六十四条处理"  # the next character decides
    assert guard.push("《红楼梦》") == ""
    assert guard.push("里") == "《红楼梦》里"  # not a citation: out at the next character
    assert guard.push("《" + "长" * 81) == "《" + "长" * 81  # too long for a law name
    assert (
        citation_end("《刑法》第一条、") is None and citation_end("《刑法》第一条、第二条。") == 11
    )
    assert citation_end("《》第一条") == 0 and citation_end("《刑\n法》") == 0
