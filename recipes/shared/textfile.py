"""Decoding the text files a law office has: UTF-8 (with or without BOM), UTF-16/32, GB18030.

Chinese legal text arrives as UTF-8, as GBK/GB18030 from older Windows tools, and now and then
as UTF-16 ("Unicode" in Notepad and Excel). UTF-16 and UTF-32 are whole-file encodings (their
bytes split on ``\\n`` are not lines), so they are recognised from the file's first bytes: a BOM,
or the NUL bytes every other byte of UTF-16 text has. Everything else is decoded line by line
(one bad line is one rejected row) as UTF-8, else GB18030 (a superset of GBK and GB2312).
"""

from __future__ import annotations

import codecs

# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF = 4096


def wide_encoding(raw: bytes) -> str | None:
    """ "utf-16"/"utf-32" (with BOM) or "utf-16-le"/"utf-16-be" (NUL bytes, no BOM) when
    ``raw`` is a whole file in one of them; None for byte-oriented text."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    head = raw[:_SNIFF]
    if len(head) >= 4 and head.count(0) > len(head) // 4:
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    return None


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding) of a line or a byte-oriented file: UTF-8 (a BOM is dropped), else
    GB18030; raises ``UnicodeDecodeError`` when neither fits."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("gb18030"), "gb18030"


def to_utf8(raw: bytes) -> tuple[bytes, str]:
    """A UTF-16/32 file re-encoded as UTF-8 (same lines), with the encoding it had; other
    bytes unchanged with "". Raises ``UnicodeDecodeError`` for a broken wide file."""
    wide = wide_encoding(raw)
    if wide is None:
        return raw, ""
    return raw.decode(wide).lstrip("\ufeff").encode("utf-8"), wide


def decode_file(raw: bytes) -> tuple[str, str]:
    """(text, encoding) of a whole text file in any of the encodings above."""
    data, wide = to_utf8(raw)
    text, enc = decode(data)
    return text, wide or enc
