import json
from pathlib import Path

import pytest

from recipes.evaluate.loops import (
    caught_in_loop,
    ended_on_its_own,
    exact_loop,
    find_loop,
    tail_loop,
)

QA = Path(__file__).resolve().parents[3] / "../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"

# What the shipped model wrote at the server defaults (issue 13), cut by max_tokens mid-copy.
DRUNK = (
    "根据《中华人民共和国刑法》第一百三十三条之一的规定，醉酒驾驶机动车的，处拘役，并处罚金。"
    + "醉酒驾驶罪是指驾驶违反酒驾管理规定，" * 20
    + "醉酒驾驶罪是指"
)

ENUMERATION = (
    "根据《中华人民共和国民法典》的规定，解除劳动合同应当注意以下几点：\n"
    "第一，用人单位应当提前三十日以书面形式通知劳动者本人；\n"
    "第二，用人单位应当依法向劳动者支付经济补偿，补偿按劳动者在本单位工作的年限计算；\n"
    "第三，用人单位不得在劳动者患职业病或者因工负伤并被确认丧失劳动能力期间解除合同；\n"
    "第四，劳动者在孕期、产期、哺乳期的，用人单位不得依照前条规定解除劳动合同；\n"
    "第五，用人单位违法解除劳动合同的，应当依照经济补偿标准的二倍向劳动者支付赔偿金。\n"
    "综上所述，建议您保留书面证据，必要时向劳动争议仲裁委员会申请仲裁。"
)

LONG_ENUMERATION = (
    "关于公司解散后的清算，您需要注意以下几点：\n"
    "第一，根据《公司法》第二百三十二条，公司解散的，应当在解散事由出现之日起十五日内成立清算组。\n"
    "第二，清算组由董事组成，但是公司章程另有规定或者股东会决议另选他人的除外。\n"
    "第三，清算组应当自成立之日起十日内通知债权人，并于六十日内在报纸上或者统一的企业信息公示系统公告。\n"
    "第四，债权人应当自接到通知之日起三十日内，未接到通知的自公告之日起四十五日内，向清算组申报其债权。\n"
    "第五，清算组在清理公司财产、编制资产负债表和财产清单后，应当制订清算方案，并报股东会或者人民法院确认。\n"
    "第六，公司财产在分别支付清算费用、职工的工资、社会保险费用和法定补偿金，缴纳所欠税款，清偿公司债务后的剩余财产，按照股东的出资比例分配。\n"
    "第七，清算期间，公司存续，但不得开展与清算无关的经营活动。\n"
    "第八，清算组发现公司财产不足清偿债务的，应当依法向人民法院申请破产清算。\n"
    "第九，公司清算结束后，清算组应当制作清算报告，报股东会或者人民法院确认，并报送公司登记机关，申请注销公司登记。\n"
    "第十，清算组成员怠于履行清算职责，给公司或者债权人造成损失的，应当承担赔偿责任。\n"
    "如果您的公司正在清算，建议尽早聘请律师协助，保存好账簿和通知债权人的凭证。"
)

CITATIONS = (
    "根据《中华人民共和国刑法》第二百六十四条，盗窃公私财物数额较大的构成盗窃罪；"
    "根据《中华人民共和国刑法》第二百六十六条，诈骗公私财物数额较大的构成诈骗罪；"
    "根据《中华人民共和国刑法》第二百七十条，将代为保管的他人财物非法占为己有的构成侵占罪。"
)


def test_the_reported_loop_is_exact():
    loop = exact_loop(DRUNK)
    assert loop is not None and loop.kind == "exact"
    assert "醉酒驾驶罪是指驾驶违反酒驾管理规定" in loop.unit * 2
    assert loop.copies >= 20
    assert caught_in_loop(DRUNK)


def test_a_loop_after_a_good_start_is_found_where_it_starts():
    good = "您好，关于您咨询的问题，回答如下。"
    loop = exact_loop(good + "应当承担赔偿责任。" * 6)
    assert loop is not None and loop.start >= len(good) - 1 and loop.copies >= 6


def test_near_copies_are_caught_by_the_tail():
    # one word changes per cycle: no exact period, but the tail keeps restating itself
    words = ["原告", "被告", "第三人", "法院", "当事人", "律师"]
    text = "关于本案的处理意见如下。" + "".join(
        f"{words[i % len(words)]}应当依法承担相应的法律责任，并赔偿相应的经济损失。"
        for i in range(12)
    )
    assert exact_loop(text) is None
    loop = tail_loop(text)
    assert loop is not None and loop.kind == "tail" and loop.share >= 0.6
    assert caught_in_loop(text)


def test_what_dry_leaves_behind_is_still_a_loop():
    # greedy + DRY on the shipped model: the cycle survives with a word swapped per copy
    others = ["团体", "组织", "国家", "地方", "地区", "地区的领导", "家长", "人的意见", "老师"] * 2
    ends = ["说明", "证明", "记录", "纪录", "证明", "说明", "资料", "材料", "文件", "通知"] * 2
    others, ends = others[:12], ends[:12]
    text = "根据《义务教育法》的规定，学校不能强求学生补课。\n\n" + "\n\n".join(
        f"学校应当及时通知学生和其他{o}，并提供必要的补课{e}。"
        for o, e in zip(others, ends, strict=True)
    )
    assert len(text) > 300 and exact_loop(text) is None
    assert tail_loop(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        ENUMERATION,
        CITATIONS,
        "甲的行为构成犯罪。" * 2 + "乙的行为不构成犯罪。",  # a stutter of two copies
        "哈哈哈哈，这个问题很简单。",  # a short repeated character
        "案件事实如下：\n\n\n\n\n\n" + "原告诉称被告拖欠货款，请求判令被告支付。" * 1,
        "",
    ],
)
def test_style_is_not_a_loop(text):
    assert find_loop(text) is None


def test_a_long_enumeration_is_not_a_loop():
    # 第一…第十: every item starts alike and cites a law, but each says something new
    assert len(LONG_ENUMERATION) > 300  # long enough for the tail test to look at it
    assert find_loop(LONG_ENUMERATION) is None


def test_ended_on_its_own():
    assert ended_on_its_own("stop", 120, 512)
    assert not ended_on_its_own("length", 512, 512)
    assert not ended_on_its_own("stop", 512, 512)  # the budget ran out at the same token
    assert not ended_on_its_own(None, 10, 512)


@pytest.mark.skipif(not QA.is_file(), reason="../shared/legal-data not present")
def test_reference_answers_are_almost_never_flagged():
    rows = [json.loads(line) for line in QA.open(encoding="utf-8")][:300]
    flagged = [r["output"][-80:] for r in rows if caught_in_loop(r["output"])]
    assert len(flagged) <= 1, flagged
