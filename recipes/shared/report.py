"""Stage reports: Markdown rendered from a Jinja template, and the same text as one HTML file.

A stage writes its report as a Jinja template over its figures (``render_markdown``); the HTML
twin is that Markdown through markdown-it-py with the PNG plots it links embedded, so the one
file can be mailed or archived on its own (``write_report`` writes both, atomically).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_text

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}img{max-width:100%}"
)


def md_table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table; a cell's ``|`` and line breaks would end the cell, so they are replaced."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(template: str, **context: Any) -> str:
    """Render a Markdown Jinja template; a name the template uses but the caller did not pass
    fails here instead of printing as an empty string. ``table`` is available as a filter."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML: markdown-it escapes when it renders
    )
    env.filters["table"] = md_table
    return env.from_string(template).render(**context)


def markdown_to_html(md: str, base: Path, title: str) -> str:
    """Self-contained HTML for ``md``: tables rendered, raw HTML escaped, images under ``base``
    embedded as data URIs (an image that is not there keeps its link)."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(md)
    for token in tokens:
        for child in token.children or []:
            src = child.attrGet("src") if child.type == "image" else None
            if isinstance(src, str) and (base / src).is_file():
                data = base64.b64encode((base / src).read_bytes()).decode()
                child.attrSet("src", f"data:image/png;base64,{data}")
    body = parser.renderer.render(tokens, parser.options, {})
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def write_report(out: Path, md: str, title: str) -> tuple[Path, Path]:
    """``out/report.md`` and ``out/report.html``; returns both paths."""
    return (
        atomic_write_text(out / "report.md", md),
        atomic_write_text(out / "report.html", markdown_to_html(md, out, title)),
    )
