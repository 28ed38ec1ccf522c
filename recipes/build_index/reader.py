"""Statute files -> article rows with version dates, and the problems found, each at file:line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from legal_edge.statutes.numbers import ARTICLE_RE, article_key, cn_to_int
from recipes.shared.statutes import (
    VERSION_RE,
    Article,
    heading_problems,
    iter_statute_files,
    parse_statute,
)
from recipes.shared.textfile import decode_file

_DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_HEADING_RE = re.compile(r"^#\s+(.*?)\s*$")


@dataclass
class Problem:
    origin: str  # file:line
    problem: str
    kept: bool  # the article is still in the index (a warning), or it is not


@dataclass
class ParsedFile:
    path: str  # relative to the corpus root
    title: str
    part: str
    category: str
    version: str
    effective_from: str
    source_status: str = ""  # the source's own status word (a database's 已废止), if it has one
    rows: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _iso(m: re.Match[str]) -> str:
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


def header_dates(lines: list[str]) -> tuple[str, str]:
    """(version, effective_from) from the dated history above ``<!-- INFO END -->``.

    The version is the latest event that is not an entry into force; a later ``施行`` date is
    when that version starts to govern.
    """
    end = next((i for i, ln in enumerate(lines) if "INFO END" in ln), min(len(lines), 40))
    events, commenced = [], []
    for ln in lines[:end]:
        for m in _DATE_RE.finditer(ln):
            (commenced if "施行" in ln else events).append(_iso(m))
    version = max(events) if events else (max(commenced) if commenced else "")
    later = [d for d in commenced if d >= version]
    return version, (min(later) if later else version)


def parse_file(root: Path, path: Path, licence: str) -> ParsedFile:
    """One statute file's articles as index rows (without status, set across versions)."""
    rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
    try:
        text, encoding = decode_file(path.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        out = ParsedFile(rel, path.stem, "", "", "", "")
        out.problems.append(Problem(f"{rel}:1", f"unreadable: {exc}", False))
        return out
    lines = text.splitlines()
    parsed = parse_statute(text, path)
    titles = [m.group(1) for ln in lines[:12] if (m := _HEADING_RE.match(ln.strip()))]
    part = titles[1] if len(titles) > 1 else ""
    name_version = VERSION_RE.search(path.name)
    version, effective = header_dates(lines)
    if name_version:
        version = name_version.group(1)
        effective = max(effective, version)
    category = rel.split("/")[0] if "/" in rel else ""
    out = ParsedFile(rel, parsed.law, part, category, version, effective)
    if encoding != "utf-8":
        out.problems.append(Problem(f"{rel}:1", f"not UTF-8: read as {encoding}", True))
    if not titles:
        out.problems.append(
            Problem(f"{rel}:1", "no '# title' line; title taken from the file name", True)
        )
    if not version:
        out.problems.append(
            Problem(f"{rel}:1", "no date in the header or file name; version unknown", True)
        )
    seen: dict[tuple[int, int], int] = {}
    last = (0, 0)
    for art in parsed.articles:
        row = _row(out, art, licence, rel)
        if row is None:
            out.problems.append(
                Problem(f"{rel}:{art.line}", f"unreadable article number {art.article!r}", False)
            )
            continue
        key = (row["main"], row["sub"])
        if key in seen:
            out.problems.append(
                Problem(
                    f"{rel}:{art.line}",
                    f"{art.article} again (first at line {seen[key]}); later one dropped",
                    False,
                )
            )
            continue
        if key < last:
            out.problems.append(
                Problem(
                    f"{rel}:{art.line}",
                    f"{art.article} after {article_key(*last)}: out of order",
                    True,
                )
            )
        seen[key] = art.line
        last = max(last, key)
        out.rows.append(row)
    for line, _rule, reason in heading_problems(text, parsed.articles):
        out.problems.append(Problem(f"{rel}:{line}", reason, False))
    if not out.rows:
        out.problems.append(Problem(f"{rel}:1", "no article (第N条) found", False))
    return out


def _row(f: ParsedFile, art: Article, licence: str, rel: str) -> dict | None:
    m = ARTICLE_RE.fullmatch(art.article)
    try:
        main = cn_to_int(m.group(1)) if m else -1
        sub = cn_to_int(m.group(2)) if m and m.group(2) else 0
    except ValueError:
        return None
    if main <= 0:
        return None
    return {
        "law": f.title,
        "part": f.part,
        "number": article_key(main, sub),
        "main": main,
        "sub": sub,
        "label": art.article,
        "chapter": art.chapter,
        "text": art.text,
        "category": f.category,
        "version": f.version,
        "effective_from": f.effective_from,
        "origin": f"{rel}:{art.line}",
        "licence": licence,
    }


def statute_files(root: Path, exclude: tuple[str, ...], limit: int) -> list[Path]:
    files = list(iter_statute_files(root, exclude))
    return files[:limit] if limit else files
