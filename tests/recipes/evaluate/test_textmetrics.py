import pytest

from recipes.evaluate.textmetrics import (
    Citation,
    char_f1,
    chinese_number,
    citation_counts,
    extract_citations,
    rouge_l,
)


@pytest.mark.parametrize(
    "text,value",
    [
        ("二百三十二", 232),
        ("十五", 15),
        ("十", 10),
        ("一千二百六十", 1260),
        ("一百零三", 103),
        ("232", 232),
        ("２３", 23),
        ("条", None),
    ],
)
def test_chinese_number(text, value):
    assert chinese_number(text) == value


def test_citations_normalise_law_and_numerals():
    cites = extract_citations(
        "依照《中华人民共和国刑法》第二百三十二条、第234条之一和《民法典》第十五条"
    )
    assert cites == {Citation("刑法", "232"), Citation("刑法", "234-1"), Citation("民法典", "15")}
    assert extract_citations("see section 47 of the Ordinance (Cap. 57)") == {
        Citation("", "s47"),
        Citation("", "cap57"),
    }


def test_citation_precision_recall_counts():
    ref = "《刑法》第二百三十二条规定了故意杀人罪；第二百三十四条规定了故意伤害罪。"
    assert citation_counts("依照刑法第232条", ref) == (1, 1, 1, 2)
    assert citation_counts("依照《民法典》第232条", ref) == (0, 1, 0, 2)  # other law
    assert citation_counts("没有引用法条", ref) == (0, 0, 0, 2)


def test_rouge_and_char_f1():
    assert rouge_l("故意杀人罪", "故意杀人罪") == 1.0
    assert rouge_l("故意杀人罪", "故意伤害罪") == pytest.approx(0.6)
    assert rouge_l("", "abc") == 0.0
    assert char_f1("the cat sat", "a cat sat down") == pytest.approx(4 / 7)
