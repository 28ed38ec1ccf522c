"""The runtime index on a real slice: look-up, search by date, verification of citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.statutes.index import IndexError_, StatuteIndex

pytestmark = pytest.mark.slow  # builds the small index (tests/fixtures/statute_index.py)


@pytest.fixture(scope="module")
def index(small_statute_index: Path) -> StatuteIndex:
    return StatuteIndex(small_statute_index)


@pytest.mark.parametrize(
    ("law", "article"),
    [("刑法", "第二百六十四条"), ("《刑法》", "264"), ("中华人民共和国刑法", "第264条")],
)
def test_lookup_normalises_names_and_numerals(index: StatuteIndex, law: str, article: str) -> None:
    rec = index.lookup(law, article)
    assert rec is not None and rec.law == "中华人民共和国刑法" and rec.number == "264"
    assert "盗窃公私财物" in rec.text


def test_lookup_split_code_and_zhi(index: StatuteIndex) -> None:
    civil = index.lookup("民法典", "第1165条")
    assert civil is not None and civil.part == "侵权责任编" and "过错" in civil.text
    assert index.lookup("刑法", "133-1").label == "第一百三十三条之一"  # type: ignore[union-attr]
    assert index.lookup("刑法", "第九百条") is None


def test_articles_named_in_a_question_are_looked_up_not_searched(index: StatuteIndex) -> None:
    for q in ("刑法第二百六十四条怎么理解", "《刑法》第264条规定了什么", "民法典第1165条"):
        top = index.search(q, k=3)
        assert top[0].score is None, q  # a direct hit, ahead of anything searched
    assert (top[0].law, top[0].number) == ("中华人民共和国民法典", "1165")


def test_known_question_finds_its_article(index: StatuteIndex) -> None:
    top = index.search("醉酒驾驶机动车被交警查到了，会判刑吗？", k=5)
    assert ("中华人民共和国刑法", "133-1") in [(r.law, r.number) for r in top]
    assert all(r.status == "in_force" and r.score for r in top)
    top = index.search("别人因为过错侵害了我的民事权益，他要承担侵权责任吗", k=5)
    assert ("中华人民共和国民法典", "1165") in [(r.law, r.number) for r in top]


def test_search_by_date_returns_the_version_then_in_force(index: StatuteIndex) -> None:
    query = "公司股东出资 认缴 期限"
    now = index.search(query, k=5)
    then = index.search(query, k=5, date="2020-06-01")
    assert now and {r.version for r in now if r.law.endswith("公司法")} == {"2023-12-29"}
    assert then and {r.version for r in then if r.law.endswith("公司法")} == {"2018-10-26"}
    assert index.lookup("公司法", "1", date="2020-06-01").version == "2018-10-26"  # type: ignore[union-attr]


def test_verification_marks_invented_and_superseded_articles(index: StatuteIndex) -> None:
    answer = (
        "根据《中华人民共和国刑法》第二百六十四条，盗窃可判刑；依《民法典》第一千五百条赔偿；"
        "《合同法》第52条无效；《公司法》第二百一十八条。"
    )
    got = {(v.law, v.article): v for v in index.verify_citations(answer)}
    assert got[("中华人民共和国刑法", "264")].verified
    invented = got[("民法典", "1500")]
    assert (invented.status, invented.verified) == ("not_found", False)
    assert "1260" in invented.reason or "no article" in invented.reason
    assert "民法典" in got[("合同法", "52")].reason  # repealed, said so
    # 公司法 2018 has 218 articles, the 2023 revision 266: 218 exists in both, in force now
    assert got[("公司法", "218")].status == "in_force"


def test_superseded_and_not_yet_in_force(index: StatuteIndex) -> None:
    (gone,) = index.verify_citations("《测试办法》第三条")
    assert (gone.status, gone.verified) == ("superseded", False)
    assert "2022-01-01" in gone.reason and gone.record is not None
    (then,) = index.verify_citations("《测试办法》第三条", date="2020-01-01")
    assert then.verified and then.record.version == "2019-01-01"  # type: ignore[union-attr]
    (later,) = index.verify_citations("《公司法》第二百五十条", date="2020-06-01")
    assert (later.status, later.verified) == ("not_found", False) and "2023" in later.reason


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexError_, match="build-index"):
        StatuteIndex(tmp_path)
