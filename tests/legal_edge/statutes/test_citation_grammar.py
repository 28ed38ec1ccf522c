"""The one citation grammar: its forms and spans, and the server, data preparation and the
evaluation reading the same citations out of the same real strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.statutes.citations import citation_end, find_citations
from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.names import clean_name
from legal_edge.statutes.numbers import cn_to_int
from recipes.evaluate.grounding import cited_articles
from recipes.evaluate.textmetrics import extract_citations
from recipes.prepare_data.grounded import cited_keys


def _found(text: str) -> list[tuple[str, str, str, str]]:
    return [(c.law, c.article, c.form, text[c.start : c.end]) for c in find_citations(text)]


def test_every_form_with_its_span() -> None:
    text = (
        "依照《刑法》第264条、第二百六十六条第二款处理；民法典第1165条和第1166条也有规定，"
        "本法第二十条另说。《中华人民共和国刑法》第一百三十三条之一 规定醉驾。"
    )
    assert _found(text) == [
        ("刑法", "264", "headed", "《刑法》第264条"),
        ("刑法", "266", "follow", "第二百六十六条第二款"),
        ("民法典", "1165", "bare", "民法典第1165条"),
        ("民法典", "1166", "bare", "第1166条"),
        ("民法典", "20", "unnamed", "第二十条"),
        ("中华人民共和国刑法", "133-1", "headed", "《中华人民共和国刑法》第一百三十三条之一"),
    ]
    # a bare name is guessed without an index (依照 is not part of it) and resolved with one
    assert _found("依照刑法第232条")[0][:2] == ("刑法", "232")
    resolve = {"刑法": "中华人民共和国刑法"}.get
    [c] = find_citations("盗窃罪适用刑法第二百六十四条", resolve)
    assert (c.law, c.start, c.form) == ("刑法", 5, "bare")
    # a name no law answers to is no citation when an index says so; 第三条 alone is none
    assert find_citations("红楼梦办法第3条", resolve) == [] and _found("第三条不算") == []


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("一万零三", 10003), ("两百", 200), ("一〇五", 105), ("２６４", 264), ("二百零五", 205)],
)
def test_numerals_with_wan_liang_ling_and_full_width(numeral: str, value: int) -> None:
    assert cn_to_int(numeral) == value


def test_a_stream_knows_when_a_held_citation_is_complete() -> None:
    assert citation_end("《刑法》第一条第") is None  # 第二款 may follow
    assert citation_end("《刑法》第一条第二款。") == 10
    assert citation_end("《刑法》第一条之") is None and citation_end("《刑法》第一条之一。") == 9


REAL = (
    # the two answers
    "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、供应血液制品，"
    "不符合国家规定的标准……",
    "《中华人民共和国劳动合同法》第三十八条规定，劳动者提前三十日以书面形式通知用人单位，"
    "可以解除劳动合同",
)


def _real_answers(legal_data: Path, n: int = 40) -> list[str]:
    out = list(REAL)
    with open(legal_data / "qa" / "lawyer_llama_single_turn.jsonl", encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["output"]
            if "第" in text and "条" in text:
                out.append(text)
            if len(out) >= n:
                break
    return out


@pytest.mark.slow
def test_server_data_preparation_and_evaluation_read_the_same_citations(
    small_statute_index: Path, legal_data: Path
) -> None:
    index = StatuteIndex(small_statute_index)
    answers = _real_answers(legal_data)
    cited_somewhere = 0
    for text in answers:
        server = {
            (index.resolve_law(v.law) or clean_name(v.law), v.article)
            for v in index.verify_citations(text)
        }
        evaluation = cited_articles(index, text)
        resolve = lambda law, art: (index.resolve_law(law) or clean_name(law), art)  # noqa: E731
        preparation = set(cited_keys(text, index.resolve_law, resolve)[0])
        assert server == evaluation == preparation, text
        # the index-free text metrics agree wherever a bare name needs no index to be read
        plain = {(clean_name(t), a) for t, a in server}
        metrics = {(c.law, c.number) for c in extract_citations(text)}
        if all(c.form != "bare" for c in find_citations(text)):
            assert metrics == plain, text
        cited_somewhere += bool(server)
    assert cited_somewhere >= len(answers) // 2  # the strings do cite: the check is not empty
