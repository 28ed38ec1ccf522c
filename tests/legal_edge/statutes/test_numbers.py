"""Article numbers, law names and citations as people write them."""

from __future__ import annotations

import pytest

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.names import clean_name, short_names
from legal_edge.statutes.numbers import article_label, cn_to_int, int_to_cn, normalise_article


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("第一百三十三条之一", "133-1"),
        ("第264条", "264"),
        ("264", "264"),
        ("133-1", "133-1"),
        ("第一千一百六十五条", "1165"),
        ("第二百零五条", "205"),
        ("第十条", "10"),
        ("第一百一十条", "110"),
    ],
)
def test_article_numbers_normalise(written: str, key: str) -> None:
    assert normalise_article(written) == key


def test_numerals_round_trip_as_the_books_print_them() -> None:
    for n in range(1, 1300):
        assert cn_to_int(int_to_cn(n)) == n
    assert article_label("133-1") == "第一百三十三条之一"
    assert article_label("1000") == "第一千条"
    with pytest.raises(ValueError):
        cn_to_int("第X")


def test_short_names() -> None:
    assert short_names("中华人民共和国刑法")[:2] == ["中华人民共和国刑法", "刑法"]
    assert "民诉法" in short_names("中华人民共和国民事诉讼法")
    assert "民诉法解释" in short_names("最高人民法院关于适用《中华人民共和国民事诉讼法》的解释")
    assert clean_name("《中华人民共和国公司法（2018修正）》") == "公司法"


def test_citations_in_text_each_article_of_a_list() -> None:
    text = (
        "依照《刑法》第264条、第二百六十六条和《中华人民共和国民法典》第一千一百六十五条之一处理。"
    )
    found = [(c.law, c.article) for c in find_citations(text)]
    assert found == [("刑法", "264"), ("刑法", "266"), ("中华人民共和国民法典", "1165-1")]
