"""The shared report renderer: Markdown from a template, HTML with tables and embedded plots."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from recipes.shared.report import markdown_to_html, md_table, render_markdown, write_report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_table_keeps_a_pipe_or_newline_inside_one_cell():
    md = md_table([["a|b", "line\nbreak"]], ["x", "y"])
    assert md.splitlines() == ["| x | y |", "|---|---|", "| a/b | line break |"]


def test_template_fails_on_a_name_it_was_not_given():
    with pytest.raises(jinja2.UndefinedError):
        render_markdown("{{ missing }}")
    assert render_markdown("{{ rows | table(['n']) }}", rows=[[1]]).endswith("| 1 |")


def test_html_renders_tables_escapes_html_and_embeds_the_plots(tmp_path: Path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.png").write_bytes(PNG)
    md = "# T\n\n| x |\n|---|\n| <b>1</b> |\n\n![a](plots/a.png)\n\n![gone](plots/b.png)\n"
    html = markdown_to_html(md, tmp_path, "t")
    assert "<table>" in html and "<td>&lt;b&gt;1&lt;/b&gt;</td>" in html
    assert html.count("data:image/png;base64,") == 1 and 'src="plots/b.png"' in html
    md_path, html_path = write_report(tmp_path, md, "t")
    assert md_path.read_text(encoding="utf-8") == md and html_path.read_text() == html
