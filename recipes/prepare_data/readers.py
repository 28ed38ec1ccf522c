"""Readers: every file a law office has becomes records or rejections, never an exception.

JSONL/JSON rows (Alpaca, ShareGPT/``messages``, multiple choice, cases, safety), statutes and case
write-ups in markdown/text, and ``.docx``/``.pdf`` documents. A bad line (broken JSON, an encoding
that is neither UTF-8 nor GB18030, missing fields) becomes a ``Rejection`` with ``file:line``; so
does a statute article that cannot be used (its number twice, no text, 第X条). UTF-16/32 files are
read whole (``recipes.shared.textfile``).
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.shared.paths import resolve_under
from recipes.shared.records import Rejection, RowError, make_record
from recipes.shared.statutes import heading_problems, iter_statute_files, parse_case, parse_statute
from recipes.shared.textfile import decode, to_utf8

from .config import SourceConfig
from .formats import DEFAULT_CATEGORY, case_record, convert_row

Item = dict[str, Any] | Rejection
ROW_SUFFIXES = (".jsonl", ".json")
ROW_FORMATS = (
    "auto",
    "mcq",
    "alpaca",
    "messages",
    "case",
    "typical_case",
    "safety_refusal",
    "safety_pairs",
)


@dataclass
class SourceStats:
    files: list[Path] = field(default_factory=list)
    decoded_as: dict[str, str] = field(default_factory=dict)  # file -> non-UTF-8 encoding used


def source_files(src: SourceConfig, root: Path) -> list[Path]:
    path = resolve_under(root, src.path)
    if any(ch in src.path for ch in "*?["):
        return sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if path.is_file():
        return [path]
    if src.format in ("statutes", "case_markdown", "text"):
        return list(iter_statute_files(path, src.exclude))
    files = [p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return [p for p in files if not any(p.relative_to(path).match(g) for g in src.exclude)]


def file_format(src: SourceConfig, path: Path) -> str:
    if src.format != "auto":
        return src.format
    suffix = path.suffix.lower()
    if suffix in ROW_SUFFIXES:
        return "auto"
    return {".md": "text", ".txt": "text", ".docx": "docx", ".pdf": "pdf"}.get(suffix, "unknown")


class Reader:
    """Reads one configured source; ``stats`` records files and non-UTF-8 decodes."""

    def __init__(self, src: SourceConfig, root: Path) -> None:
        self.src = src
        self.root = root
        self.stats = SourceStats()

    def _record(
        self,
        fields: dict[str, Any],
        fmt: str,
        origin: str,
        rid: str,
        row_source: str = "",
        **private: Any,
    ) -> dict[str, Any]:
        src = self.src
        return make_record(
            id=f"{src.name}/{rid}",
            source=src.source or row_source or src.name,
            category=src.category or DEFAULT_CATEGORY.get(fmt, "document"),
            license=src.license,
            origin=origin,
            pii=src.pii,
            **fields,
            **private,
        )

    def __iter__(self) -> Iterator[Item]:
        count = 0
        for path in source_files(self.src, self.root):
            self.stats.files.append(path)
            for item in self._read_file(path):
                yield item
                count += 1
                if self.src.limit and count >= self.src.limit:
                    return

    def _read_file(self, path: Path) -> Iterator[Item]:
        fmt = file_format(self.src, path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            yield Rejection("unreadable_file", str(exc), str(path), self.src.name)
            return
        try:
            raw, wide = to_utf8(raw)
        except UnicodeDecodeError as exc:
            yield Rejection("bad_encoding", f"broken UTF-16/32: {exc}", str(path), self.src.name)
            return
        if wide:
            self.stats.decoded_as[str(path)] = wide
        if not raw.strip():
            yield Rejection("empty_file", "the file is empty", str(path), self.src.name)
            return
        if fmt in ROW_FORMATS:
            if path.suffix.lower() == ".json" and raw.lstrip()[:1] == b"[":
                yield from self._json_array(path, raw, fmt)
            else:
                yield from self._jsonl(path, raw, fmt)
        elif fmt in ("statutes", "text", "case_markdown"):
            yield from self._text_file(path, raw, fmt)
        elif fmt in ("docx", "pdf"):
            yield from self._document(path, fmt)
        else:
            yield Rejection(
                "unknown_format",
                f"no reader for {path.suffix or 'files without suffix'}"
                " (known: .jsonl .json .md .txt .docx .pdf)",
                str(path),
                self.src.name,
            )

    def _row(self, row: Any, fmt: str, origin: str, index: int) -> Item:
        try:
            used, fields = convert_row(fmt, row)
        except RowError as exc:
            return Rejection(exc.rule, str(exc), origin, self.src.name)
        rid = str(row.get("id") or index)
        return self._record(fields, used, origin, rid, str(row.get("source") or ""))

    def _jsonl(self, path: Path, raw: bytes, fmt: str) -> Iterator[Item]:
        lines = raw.splitlines()
        cut = not raw.endswith((b"\n", b"\r"))  # the last line may have been cut short
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            origin = f"{path}:{n}"
            try:
                text, enc = decode(line)
            except UnicodeDecodeError as exc:
                yield Rejection(
                    "bad_encoding", f"neither UTF-8 nor GB18030: {exc}", origin, self.src.name
                )
                continue
            if enc != "utf-8":
                self.stats.decoded_as[str(path)] = enc
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                end = " (last line, no line end: the file looks cut short)"
                yield Rejection(
                    "bad_json",
                    f"malformed JSON: {exc.msg} (column {exc.colno})"
                    + (end if cut and n == len(lines) else ""),
                    origin,
                    self.src.name,
                )
                continue
            yield self._row(row, fmt, origin, n)

    def _json_array(self, path: Path, raw: bytes, fmt: str) -> Iterator[Item]:
        try:
            text, enc = decode(raw)
            rows = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            yield Rejection("bad_json", f"malformed JSON file: {exc}", str(path), self.src.name)
            return
        if enc != "utf-8":
            self.stats.decoded_as[str(path)] = enc
        for i, row in enumerate(rows):
            yield self._row(row, fmt, f"{path}:[{i}]", i)

    def _text_file(self, path: Path, raw: bytes, fmt: str) -> Iterator[Item]:
        try:
            text, enc = decode(raw)
        except UnicodeDecodeError as exc:
            yield Rejection(
                "bad_encoding", f"neither UTF-8 nor GB18030: {exc}", str(path), self.src.name
            )
            return
        if enc != "utf-8":
            self.stats.decoded_as[str(path)] = enc
        yield from self._from_text(path, text, fmt)

    def _from_text(self, path: Path, text: str, fmt: str) -> Iterator[Item]:
        rel = self._rel(path)
        if fmt in ("statutes", "text"):
            parsed = parse_statute(text, path)
            if parsed.articles:
                for line, rule, reason in heading_problems(text, parsed.articles):
                    yield Rejection(rule, reason, f"{path}:{line}", self.src.name)
                seen: dict[str, int] = {}
                for a in parsed.articles:
                    if a.article in seen:  # one id, two texts: the first one stands
                        yield Rejection(
                            "duplicate_article",
                            f"{a.article} again (first at line {seen[a.article]}); dropped",
                            f"{path}:{a.line}",
                            self.src.name,
                        )
                        continue
                    seen[a.article] = a.line
                    fields = {
                        "instruction": f"《{a.law}》{a.article}的内容是什么？",
                        "input": "",
                        "output": f"《{a.law}》{a.article}规定：{a.text}",
                    }
                    yield self._record(
                        fields,
                        "statutes",
                        f"{path}:{a.line}",
                        f"{rel}#{a.article}",
                        statute={
                            "law": a.law,
                            "article": a.article,
                            "chapter": a.chapter,
                            "text": a.text,
                            "version": a.version,
                        },
                    )
                return
            if fmt == "statutes":
                yield Rejection(
                    "no_articles",
                    "no 第N条 articles found in this statute file",
                    str(path),
                    self.src.name,
                )
                return
        sections = parse_case(text)
        if fmt == "case_markdown" or sections.get("facts"):
            try:
                fields = case_record(sections)
            except RowError as exc:
                yield Rejection(exc.rule, str(exc), str(path), self.src.name)
                return
            yield self._record(fields, "case_markdown", str(path), rel)
            return
        yield from self._document_record(path, text, "text")

    def _document(self, path: Path, fmt: str) -> Iterator[Item]:
        try:
            if fmt == "docx":
                import docx

                doc = docx.Document(str(path))
                parts = [p.text for p in doc.paragraphs]
                for table in doc.tables:
                    for row in table.rows:
                        parts.append(" | ".join(c.text.strip() for c in row.cells))
                text = "\n".join(parts)
            else:
                from pypdf import PdfReader

                text = "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
        except Exception as exc:  # a corrupt document must not stop the run
            yield Rejection(
                "unreadable_file",
                f"cannot read {fmt}: {type(exc).__name__}: {exc}",
                str(path),
                self.src.name,
            )
            return
        if not text.strip():
            yield Rejection(
                "empty_file", f"no text in this {fmt} (scanned image?)", str(path), self.src.name
            )
            return
        yield from self._document_record(path, text, fmt)

    def _document_record(self, path: Path, text: str, fmt: str) -> Iterator[Item]:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        first = lines[0].lstrip("# ").strip() if lines else ""
        title = first if 0 < len(first) <= 40 else path.stem
        body = "\n".join(lines[1:] if title == first else lines)
        category = self.src.category or DEFAULT_CATEGORY.get(fmt, "document")
        instruction = (
            f"请起草一份《{title}》。" if category == "contract" else f"请写出《{title}》的全文。"
        )
        fields = {"instruction": instruction, "input": "", "output": body}
        yield self._record(fields, fmt, str(path), self._rel(path))

    def _rel(self, path: Path) -> str:
        base = resolve_under(self.root, self.src.path)
        try:
            return str(path.relative_to(base if base.is_dir() else base.parent))
        except ValueError:
            return path.name
