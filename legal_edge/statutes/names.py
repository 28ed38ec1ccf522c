"""Law names as people write them: official titles, short names, repealed laws.

A citation names a law by its official title (``中华人民共和国刑法``), without the state prefix
(``刑法``), or by an abbreviation lawyers use (``民诉法``). The index stores every alias of every
title; this module derives them, so the builder and the reader agree.
"""

from __future__ import annotations

import re

STATE_PREFIX = "中华人民共和国"
# Abbreviations in common use, keyed by the title without the state prefix. Only names that are
# unambiguous in the corpus; the stripped title is always an alias too.
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "民事诉讼法": ("民诉法",),
    "刑事诉讼法": ("刑诉法",),
    "行政诉讼法": ("行诉法",),
    "行政复议法": ("行复法",),
    "行政处罚法": ("行罚法",),
    "行政许可法": ("行许法",),
    "道路交通安全法": ("道交法",),
    "道路交通安全法实施条例": ("道交法实施条例",),
    "消费者权益保护法": ("消法", "消保法"),
    "未成年人保护法": ("未保法",),
    "治安管理处罚法": ("治安处罚法",),
    "劳动争议调解仲裁法": ("劳动仲裁法",),
    "反不正当竞争法": ("反法",),
    "个人所得税法": ("个税法",),
    "社会保险法": ("社保法",),
    "环境保护法": ("环保法",),
    "食品安全法": ("食安法",),
    "著作权法": ("版权法",),
    "妇女权益保障法": ("妇女法",),
    "老年人权益保障法": ("老年法",),
    "民法典": ("民法",),
}
# Laws the Civil Code repealed on 2021-01-01 (民法典第一千二百六十条): cited often, never in force
# again, so a citation of them gets that reason instead of "unknown law".
REPEALED: dict[str, str] = {
    name: "repealed on 2021-01-01 by 民法典 (民法典第一千二百六十条)"
    for name in (
        "婚姻法",
        "继承法",
        "民法通则",
        "收养法",
        "担保法",
        "合同法",
        "物权法",
        "侵权责任法",
        "民法总则",
    )
}
# 最高人民法院关于适用《中华人民共和国民事诉讼法》的解释 -> 民事诉讼法解释 / 民诉法解释
_INTERPRETATION_RE = re.compile(r"^最高人民法院(?:、最高人民检察院)?关于适用《(.+?)》的解释$")
_BRACKETS_RE = re.compile(r"[（(][^（）()]*[)）]$")
_SPACE_RE = re.compile(r"[\s\u3000]+")


def clean_name(name: str) -> str:
    """A cited name as the index keys it: no 《》, spaces, trailing edition note or state prefix.

    ``《中华人民共和国公司法（2018修正）》`` -> ``公司法``.
    """
    name = _SPACE_RE.sub("", name).strip("《》〈〉<>")
    while (stripped := _BRACKETS_RE.sub("", name)) != name and stripped:
        name = stripped
    if name.startswith(STATE_PREFIX) and len(name) > len(STATE_PREFIX):
        name = name[len(STATE_PREFIX) :]
    return name


def short_names(title: str) -> list[str]:
    """Every name a law goes by, the official title first: ``中华人民共和国刑法`` -> [.., 刑法]."""
    out = [title]
    stripped = clean_name(title)
    out.append(stripped)
    out.extend(ABBREVIATIONS.get(stripped, ()))
    m = _INTERPRETATION_RE.match(title)
    if m:
        base = clean_name(m.group(1))
        out.append(f"{base}解释")
        out.extend(f"{abbr}解释" for abbr in ABBREVIATIONS.get(base, ()))
    return list(dict.fromkeys(n for n in out if n))


class AliasTable:
    """Names -> official titles; the builder fills it from the corpus, the index from its table."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._laws: dict[str, list[str]] = {}
        for alias, law in sorted(pairs, key=lambda p: p[1]):
            self._laws.setdefault(alias, []).append(law)

    @classmethod
    def of_titles(cls, titles: set[str]) -> AliasTable:
        return cls([(alias, t) for t in titles for alias in short_names(t)])

    def resolve(self, name: str) -> str | None:
        """The official title a name stands for (``刑法``, ``《民诉法》``), or None; of two laws
        with one short name, the shorter title (the law rather than its implementing rules)."""
        for key in (name.strip("《》 "), clean_name(name)):
            laws = self._laws.get(key)
            if laws:
                return min(laws, key=len)
        return None
