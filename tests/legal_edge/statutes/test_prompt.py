"""The grounded prompt format shared by the server and the training records."""

from __future__ import annotations

from dataclasses import dataclass

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.prompt import (
    NO_ARTICLES,
    QUESTION_HEADER,
    REFERENCE_HEADER,
    article_heading,
    grounded_question,
    trim,
)


@dataclass
class Art:
    law: str
    label: str
    text: str


THEFT = Art(
    "中华人民共和国刑法", "第二百六十四条", "盗窃公私财物，数额较大的，处三年以下有期徒刑。" * 8
)


def test_articles_are_numbered_headed_and_trimmed() -> None:
    text = grounded_question(" 盗窃多少钱构成犯罪？ ", [THEFT, Art("民法典", "第一条", "短。")], 60)
    lines = text.split("\n")
    assert lines[0] == REFERENCE_HEADER
    assert lines[1].startswith("[1]《中华人民共和国刑法》第二百六十四条：")
    assert len(lines[1]) < 60 + 40 and lines[1].endswith("。……")  # cut at a sentence end
    assert lines[2] == "[2]《民法典》第一条：短。"
    assert lines[-1] == QUESTION_HEADER + "盗窃多少钱构成犯罪？"
    # a citation copied from a heading is one the index can resolve
    [cit] = find_citations(article_heading(THEFT))
    assert (cit.law, cit.article) == ("中华人民共和国刑法", "264")


def test_no_articles_is_said() -> None:
    assert grounded_question("问", []).startswith(REFERENCE_HEADER + NO_ARTICLES + "\n\n")


def test_trim_keeps_short_text_and_cuts_hard_without_a_sentence_end() -> None:
    assert trim("一 二\n三", 10) == "一 二 三"
    assert trim("甲" * 50, 10) == "甲" * 10 + "……"
