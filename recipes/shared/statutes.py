"""Statutes and case write-ups in markdown/text: split into articles (第N条) and case sections.

The layout is LawRefBook's (one law per file: ``# title``, optional ``# part``, dated history lines,
``<!-- INFO END -->``, then ``##``/``###`` chapter headings and ``第N条 …`` articles), but a plain
text file with ``第N条`` lines parses too: the title then comes from the file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from legal_edge.statutes.numbers import NUMERAL, NUMERAL_CHARS

CN_NUM = NUMERAL_CHARS  # the numerals of the citation grammar (legal_edge.statutes)
# An article's own line: 第N条 (之M) at the start, then its text.
ARTICLE_RE = re.compile(rf"^\s*(第{NUMERAL}+条(?:之{NUMERAL}+)?)(?:[\s\u3000]+|(?=[^\s])|$)(.*)$")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
# A line that starts like an article but whose number is a placeholder (第X条, 第某条, 第?条).
PLACEHOLDER = "XxＸｘ某?？*＊_○□"
PLACEHOLDER_ARTICLE_RE = re.compile(
    rf"^\s*第([{CN_NUM}\d]*[{PLACEHOLDER}][{CN_NUM}\d{PLACEHOLDER}]*)条"
)
COMMENT_RE = re.compile(r"<!--.*?-->")
VERSION_RE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")


@dataclass
class Article:
    law: str
    article: str  # "第十七条之一"
    chapter: str  # "第一编 总则 / 第一章 …" (empty when the law has no chapters)
    text: str
    line: int  # 1-based line of the article heading
    version: str = ""  # date in the file name, e.g. 2023-09-01


@dataclass
class StatuteFile:
    law: str
    articles: list[Article] = field(default_factory=list)
    preamble: str = ""


def _strip(line: str) -> str:
    return COMMENT_RE.sub("", line).strip()


def law_title(path: Path) -> str:
    name = VERSION_RE.sub("", path.stem)
    return re.sub(r"\(.*?\)$", "", name).strip()


def parse_statute(text: str, path: Path) -> StatuteFile:
    """Split a statute into articles, keeping law name, chapter path and article number."""
    lines = text.splitlines()
    info_end = next((i for i, ln in enumerate(lines) if "INFO END" in ln), -1)
    titles = [
        m.group(2)
        for ln in lines[: info_end if info_end >= 0 else len(lines)]
        if (m := HEADING_RE.match(_strip(ln))) and len(m.group(1)) == 1
    ]
    law = titles[0] if titles else law_title(path)
    version_m = VERSION_RE.search(path.name)
    version = version_m.group(1) if version_m else ""
    out = StatuteFile(law=law)
    headings: dict[int, str] = {}
    current: Article | None = None
    body: list[str] = []
    preamble: list[str] = []
    skipping = False  # inside a 第X条 placeholder article

    def close() -> None:
        nonlocal current, body
        if current is not None:
            current.text = "\n".join(p for p in body if p).strip()
            if current.text:
                out.articles.append(current)
        current, body = None, []

    start = info_end + 1 if info_end >= 0 else 0
    for i in range(start, len(lines)):
        ln = _strip(lines[i])
        if not ln or ln.startswith("---"):
            continue
        h = HEADING_RE.match(ln)
        if h:
            close()
            skipping = False
            level = len(h.group(1))
            if level == 1 and info_end < 0 and not headings and i < 5:
                continue  # title of a plain file
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = h.group(2)
            continue
        m = ARTICLE_RE.match(ln)
        if m:
            close()
            chapter = " / ".join(headings[k] for k in sorted(headings))
            current = Article(law, m.group(1), chapter, "", i + 1, version)
            body = [m.group(2).strip()]
            skipping = False
        elif PLACEHOLDER_ARTICLE_RE.match(ln):
            close()  # not glued onto the article before; dropped and reported (heading_problems)
            skipping = True
        elif skipping:
            continue
        elif current is not None:
            body.append(ln)
        else:
            preamble.append(ln)
    close()
    out.preamble = "\n".join(preamble)
    return out


def heading_problems(text: str, articles: list[Article]) -> list[tuple[int, str, str]]:
    """Article lines ``parse_statute`` could not use, as ``(line, rule, reason)``: a heading
    without text and a placeholder number such as 第X条 (dropped with its text, not glued onto
    the article before it)."""
    lines = text.splitlines()
    parsed = {a.line for a in articles}
    start = next((i for i, ln in enumerate(lines) if "INFO END" in ln), -1) + 1
    out = []
    for i in range(start, len(lines)):
        ln = _strip(lines[i])
        if ln.startswith("#"):
            continue
        m = ARTICLE_RE.match(ln)
        if m:
            if i + 1 not in parsed:
                out.append((i + 1, "empty_article", f"{m.group(1)}: article heading without text"))
        elif m := PLACEHOLDER_ARTICLE_RE.match(ln):
            reason = f"第{m.group(1)}条 is a placeholder, not an article number; dropped"
            out.append((i + 1, "bad_article_number", reason))
    return out


CASE_SECTIONS = {
    "facts": ("基本案情", "案情", "案件事实", "简要案情", "案情回顾", "案情简介"),
    "claims": ("诉讼请求", "原告诉讼请求", "申请人请求", "请求"),
    "result": ("裁判结果", "处理结果", "判决结果", "裁判要旨", "裁判要点"),
    "analysis": ("案例分析", "裁判理由", "法院认为", "评析", "法官解读", "法官说法"),
    "significance": ("典型意义", "指导意义"),
}


def parse_case(text: str) -> dict[str, str]:
    """Sections of a case write-up (``## 基本案情`` …) keyed facts/claims/result/analysis/…"""
    lines = text.splitlines()
    title = ""
    out: dict[str, list[str]] = {}
    key: str | None = None
    for raw in lines:
        ln = _strip(raw)
        if not ln:
            continue
        h = HEADING_RE.match(ln)
        if h:
            name = h.group(2).strip()
            if len(h.group(1)) == 1 and not title:
                title = name
                continue
            key = next((k for k, names in CASE_SECTIONS.items() if name in names), None)
            if key is None and not out:
                key = None  # a sub-title such as the parties' names
            continue
        if key is not None:
            out.setdefault(key, []).append(ln)
    sections = {k: "\n".join(v) for k, v in out.items()}
    sections["title"] = title
    return sections


def iter_statute_files(root: Path, exclude: tuple[str, ...]) -> Iterator[Path]:
    """Markdown/text files under ``root`` in a stable order, newest law version first.

    Newest first so that exact duplicates across versions keep the current text.
    """
    files = (
        [root]
        if root.is_file()
        else [p for p in root.rglob("*") if p.suffix.lower() in (".md", ".txt") and p.is_file()]
    )
    skip = {"_index.md", "README.md", "README.upstream.md", "法律法规模版.md"}
    kept = []
    for p in files:
        rel = p.relative_to(root) if root.is_dir() else Path(p.name)
        if p.name in skip or any(
            rel.match(g) or str(rel).startswith(g.rstrip("*/")) for g in exclude
        ):
            continue
        kept.append(p)

    def key(p: Path) -> tuple[str, str, str]:
        v = VERSION_RE.search(p.name)
        inverted = (
            "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in v.group(1))
            if v
            else ""
        )
        return (str(p.parent), law_title(p), inverted)

    return iter(sorted(kept, key=key))


def superseded(records: list[dict]) -> dict[int, str]:
    """Indices of statute records from an older file of a law that has a newer one, with why.

    Two files with one title (``立法法(2015-03-15).md``, ``立法法(2023-03-13).md``) would ask the
    same question ("《立法法》第N条的内容是什么？") with two answers; the newest dated file wins
    (an undated file counts as oldest).
    """
    files: dict[str, dict[str, str]] = {}  # law -> file -> version
    for rec in records:
        meta = rec.get("_statute")
        if meta:
            path = rec["_origin"].rsplit(":", 1)[0]
            files.setdefault(meta["law"], {})[path] = meta["version"]
    newest = {
        law: max(vs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        for law, vs in files.items()
        if len(vs) > 1
    }
    out: dict[int, str] = {}
    for i, rec in enumerate(records):
        meta = rec.get("_statute")
        if meta and meta["law"] in newest:
            path = rec["_origin"].rsplit(":", 1)[0]
            if path != newest[meta["law"]]:
                out[i] = f"older version of 《{meta['law']}》, superseded by {newest[meta['law']]}"
    return out
