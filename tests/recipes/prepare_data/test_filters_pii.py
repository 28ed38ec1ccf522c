"""Each filter rule fires on a bad record and passes a good one; PII goes, law numbers stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.prepare_data.config import FilterConfig, PiiConfig
from recipes.prepare_data.filters import RULES, Filters, detect_language
from recipes.prepare_data.pii import Redactor, contains_pii, luhn_ok
from tests.recipes.prepare_data.helpers import read


def rec(
    instruction: str = "劳动合同到期不续签有补偿吗？",
    output: str = "有。根据《劳动合同法》第四十六条，用人单位不续签的，应当支付经济补偿。",
    category: str = "consultation",
    **kw,
) -> dict:
    return {
        "id": "x",
        "instruction": instruction,
        "input": "",
        "output": output,
        "source": "s",
        "category": category,
        "license": "l",
        **kw,
    }


BAD = {
    "too_short": rec("问", "答"),
    "too_long": rec(output="很长的回答。" * 2000),
    "short_answer": rec(output="是"),
    "language": rec("Как дела?", "Хорошо, спасибо, всё в порядке."),
    "mojibake": rec(output="根据ä¸­å›½法律，用人单位应当支付补偿。"),
    "placeholder": rec(output="根据《劳动合同法》第X条的规定，用人单位应当支付经济补偿。"),
    "empty_answer": rec(output="  "),
    "copied_answer": rec(output="劳动合同到期不续签有补偿吗？"),
    "refusal": rec(output="很抱歉，作为一个AI语言模型，我无法提供法律建议，请咨询律师。"),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_fires(rule: str) -> None:
    cfg = FilterConfig(min_output_chars=2, languages=("zh", "en"))
    got = Filters(cfg).check(BAD[rule])
    assert got is not None and got[0] == rule, got


def test_good_record_passes_and_rules_can_be_switched_off() -> None:
    f = Filters(FilterConfig())
    assert f.check(rec()) is None
    assert (
        f.check(rec("How long is the limitation period?", "Six years for contract claims.")) is None
    )
    off = Filters(FilterConfig(placeholders=False, refusals=False, mojibake=False))
    for rule in ("placeholder", "refusal", "mojibake"):
        assert off.check(BAD[rule]) is None


def test_refusals_are_fine_in_safety_data() -> None:
    f = Filters(FilterConfig())
    assert f.check(dict(BAD["refusal"], category="safety")) is None


def test_copied_answer_in_conversation() -> None:
    msgs = [
        {"role": "user", "content": "我被公司辞退了怎么办"},
        {"role": "assistant", "content": "我被公司辞退了怎么办"},
    ]
    assert Filters(FilterConfig()).check(rec(messages=msgs))[0] == "copied_answer"


def test_real_mcq_and_statute_rows_pass(legal_data: Path) -> None:
    f = Filters(FilterConfig())
    for path, fmt in (("mcq/lexeval_choice.jsonl", "mcq"), ("statutes/宪法", "statutes")):
        recs, _ = read(legal_data, path, fmt, limit=20)
        assert [f.check(r) for r in recs] == [None] * 20


def test_detect_language() -> None:
    assert detect_language("合同法第五十二条 contract law") == "zh"
    assert detect_language("The tenant shall pay rent monthly.") == "en"
    assert detect_language("12345 !!!") == "other"


def with_luhn_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def test_pii_redaction() -> None:
    r = Redactor(PiiConfig())
    card = with_luhn_digit("622202123456789901")
    card = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    text = (
        "我叫<name>王小明</name>，身份证号110101199003071234，手机138 1234 5678，"
        f"座机010-62345678，银行卡{card}，邮箱wang.xm@example.com。"
    )
    out = r(text)
    assert "王小明" not in out and "[姓名]" in out
    assert "110101199003071234" not in out and "[身份证号]" in out
    assert "5678" not in out.split("座机")[0] and out.count("[电话]") == 2
    assert "[银行卡号]" in out and "[邮箱]" in out and "example.com" not in out
    assert dict(r.counts) == {"name": 1, "id_number": 1, "phone": 2, "bank_card": 1, "email": 1}
    assert not contains_pii(out)


def test_pii_leaves_legal_numbers_alone() -> None:
    r = Redactor(PiiConfig())
    text = (
        "根据《民法典》第一千零九十二条，2019年12月起诉，请求支付加班费46293元；"
        "案号（2020）京0105民初12345号；金额1234567890123456元。"
    )
    # 16 digits that fail the Luhn check are an amount, not a card
    assert not luhn_ok("1234567890123456")
    assert r(text) == text and not r.counts


def test_invalid_birth_date_is_not_an_id() -> None:
    assert not contains_pii("编号110101199013451234")
