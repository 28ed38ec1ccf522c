"""Article numbers: ``第一百三十三条之一`` <-> ``133-1``, Chinese numerals or Arabic digits."""

from __future__ import annotations

import re

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL_CHARS = "".join(DIGITS) + "".join(UNITS) + "万"
FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
# One numeral, as the citation grammar (``citations``) and the statute parsers read it.
NUMERAL = rf"[{NUMERAL_CHARS}\d０-９]"
# One article label: 第一百三十三条之一, 第264条, 第 264 条, 第1165条之2
ARTICLE_RE = re.compile(rf"第\s*({NUMERAL}+)\s*条(?:\s*之\s*({NUMERAL}+))?")
# What a user types for an article on its own: 133-1, 133之一, 264, 第264条
_PLAIN_RE = re.compile(rf"^\s*(?:第)?\s*({NUMERAL}+)\s*(?:条)?\s*(?:(?:之|-)\s*({NUMERAL}+))?\s*$")


def cn_to_int(text: str) -> int:
    """``一百三十三`` -> 133, ``十二`` -> 12, ``二百零五`` -> 205, ``264`` -> 264.

    Raises ValueError for anything that is not a numeral (so a parser can report the line).
    """
    text = text.strip().translate(FULL_WIDTH)
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    if len(text) > 1 and all(ch in DIGITS for ch in text):  # 一〇五: digit by digit
        return int("".join(str(DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in DIGITS:
            if digit is not None and digit != 0:
                raise ValueError(f"two digits in a row in {text!r}")
            digit = DIGITS[ch]
        elif ch in UNITS:
            section += (1 if digit is None else digit) * UNITS[ch]
            digit = None
        elif ch == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            raise ValueError(f"not a numeral: {text!r}")
    return total + section + (digit or 0)


def int_to_cn(n: int) -> str:
    """133 -> ``一百三十三`` (as the statute books print it), 10 -> ``十``, 205 -> ``二百零五``."""
    if n <= 0 or n >= 10000:
        raise ValueError(f"article numbers run 1..9999, got {n}")
    names = "零一二三四五六七八九"
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            if zero:
                out += "零"
            out += ("" if (d == 1 and unit == "十" and n < 20) else names[d]) + unit
            zero = False
        elif out:
            zero = True
    return out


def article_key(main: int, sub: int = 0) -> str:
    """The canonical number: ``133`` or ``133-1``."""
    return f"{main}-{sub}" if sub else str(main)


def parse_article(text: str) -> tuple[int, int]:
    """``第一百三十三条之一``, ``133-1``, ``264``, ``第264条`` -> (main, sub); else ValueError."""
    m = ARTICLE_RE.fullmatch(text.strip()) or _PLAIN_RE.match(text)
    if not m:
        raise ValueError(f"not an article number: {text!r}")
    return cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else 0


def normalise_article(text: str) -> str:
    """Any spelling of an article number -> ``133-1``."""
    return article_key(*parse_article(text))


def article_label(key: str) -> str:
    """``133-1`` -> ``第一百三十三条之一`` (as the books print it)."""
    main, _, sub = key.partition("-")
    label = f"第{int_to_cn(int(main))}条"
    return label + (f"之{int_to_cn(int(sub))}" if sub else "")
