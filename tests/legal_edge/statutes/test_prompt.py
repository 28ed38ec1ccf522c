"""The grounded prompt format shared by the server and the training records."""

from __future__ import annotations

from dataclasses import dataclass

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.prompt import (
    NO_ARTICLES,
    QUESTION_HEADER,
    REFERENCE_HEADER,
    article_heading,
    excerpt,
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


# 《劳动合同法》第三十八条 as the corpus prints it (268 characters): the clause on unpaid wages is
# the second of six, far from the first 120 characters' cut.
QUIT = Art(
    "中华人民共和国劳动合同法",
    "第三十八条",
    "用人单位有下列情形之一的，劳动者可以解除劳动合同：（一）未按照劳动合同约定提供劳动保护或者劳动条件的；"
    "（二）未及时足额支付劳动报酬的；（三）未依法为劳动者缴纳社会保险费的；（四）用人单位的规章制度违反法律、"
    "法规的规定，损害劳动者权益的；（五）因本法第二十六条第一款规定的情形致使劳动合同无效的；（六）法律、"
    "行政法规规定劳动者可以解除劳动合同的其他情形。用人单位以暴力、威胁或者非法限制人身自由的手段强迫劳动者"
    "劳动的，或者用人单位违章指挥、强令冒险作业危及劳动者人身安全的，劳动者可以立即解除劳动合同，"
    "不需事先告知用人单位。",
)


def test_a_long_article_gives_the_sentences_the_question_asks_about() -> None:
    question = "老板用暴力威胁强迫我干活，我可以立即解除劳动合同吗？"
    got = excerpt(QUIT.text, 160, question)
    assert len(got) <= 160
    assert got.startswith("用人单位有下列情形之一的")  # the lead-in keeps its place
    assert "以暴力、威胁或者非法限制人身自由的手段强迫劳动者劳动" in got
    assert "（四）" not in got and "……" in got
    assert "暴力" not in trim(QUIT.text, 160)  # what the head alone would have given
    # the prompt the server and the training records write carries the same excerpt
    assert f"第三十八条：{got}" in grounded_question(question, [QUIT], 160)


def test_excerpt_falls_back_to_the_head() -> None:
    assert excerpt(QUIT.text, 120, "") == trim(QUIT.text, 120)  # no question
    assert excerpt(QUIT.text, 120, "hello?") == trim(QUIT.text, 120)  # nothing shared
    assert excerpt(QUIT.text, 1000, "劳动报酬") == trim(QUIT.text, 1000)  # it fits whole
