"""PII redaction for client consultations: ID numbers, phones, bank cards, e-mail, marked names.

Each match is replaced by a bracketed tag (``[身份证号]``, ``[电话]``, ``[银行卡号]``, ``[邮箱]``,
``[姓名]``) so the text stays readable and the model learns the shape, not the client. Counts per
kind go to the report.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from .config import PiiConfig

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 18-digit resident ID: 6-digit region, birth date, 3-digit sequence, check digit (0-9 or X).
ID_RE = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})((?:18|19|20)\d{2})(\d{2})(\d{2})(\d{3})([0-9Xx])(?![0-9A-Za-z])"
)
# Bank cards: 16-19 digits, optionally grouped by spaces or dashes; confirmed with Luhn.
CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
MOBILE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
LANDLINE_RE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3}-)\d{7,8}(?!\d)")

TAGS = {
    "id_number": "[身份证号]",
    "bank_card": "[银行卡号]",
    "phone": "[电话]",
    "email": "[邮箱]",
    "name": "[姓名]",
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _valid_birth(y: str, m: str, d: str) -> bool:
    try:
        born = date(int(y), int(m), int(d))
    except ValueError:
        return False
    return born <= date.today()


class Redactor:
    """Redacts one text at a time and counts what it replaced."""

    def __init__(self, cfg: PiiConfig) -> None:
        self.cfg = cfg
        self.counts: Counter[str] = Counter()
        self.name_re = re.compile(cfg.name_pattern) if cfg.name_pattern else None

    def _sub(self, kind: str, pattern: re.Pattern[str], text: str, check=None) -> str:
        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m):
                return m.group(0)
            self.counts[kind] += 1
            return TAGS[kind]

        return pattern.sub(repl, text)

    def __call__(self, text: str) -> str:
        cfg = self.cfg
        if self.name_re is not None:
            text = self._sub("name", self.name_re, text)
        if cfg.emails:
            text = self._sub("email", EMAIL_RE, text)
        if cfg.id_numbers:
            text = self._sub(
                "id_number", ID_RE, text, lambda m: _valid_birth(m.group(2), m.group(3), m.group(4))
            )
        if cfg.bank_cards:
            text = self._sub(
                "bank_card", CARD_RE, text, lambda m: luhn_ok(re.sub(r"\D", "", m.group(0)))
            )
        if cfg.phones:
            text = self._sub("phone", MOBILE_RE, text)
            text = self._sub("phone", LANDLINE_RE, text)
        return text


def contains_pii(text: str) -> bool:
    """True when an unredacted ID number, card, phone or e-mail is left (used by tests/report)."""
    probe = Redactor(PiiConfig(name_pattern=""))
    probe(text)
    return bool(probe.counts)
