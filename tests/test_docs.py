"""The README and docs/ against the code: generated pages current, links alive, nothing orphaned."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
MODEL_CARD = REPO / "models" / "legal-gemma3-270m" / "peft" / "README.md"
REGENERATE = ".venv/bin/python -m legal_edge.settings.reference docs/configuration.md"


def test_configuration_page_matches_the_settings():
    from legal_edge.settings.reference import render

    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/configuration.md is out of date with legal_edge/settings.py; "
        f"regenerate it with: {REGENERATE}"
    )


def test_every_setting_has_a_comment():
    from legal_edge.settings.reference import read_groups

    bare = [g.fields for g in read_groups() if not g.comment and not g.notes]
    assert not bare, f"settings without a comment in legal_edge/settings.py: {bare}"


def test_readme_is_the_short_first_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move details to docs/"


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are not links
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_relative_links_point_at_files():
    broken = []
    for page in [README, MODEL_CARD, *_pages()]:
        for link in _links(page):
            if re.match(r"[a-z]+:", link) or link.startswith("#"):
                continue
            target = (page.parent / link.split("#")[0]).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(REPO)} -> {link}")
    assert not broken, "broken links: " + "; ".join(broken)


def test_index_lists_every_page():
    index = DOCS / "index.md"
    linked = {(DOCS / link.split("#")[0]).resolve() for link in _links(index)}
    missing = [
        str(p.relative_to(REPO)) for p in _pages() if p != index and p.resolve() not in linked
    ]
    assert not missing, f"pages not listed in docs/index.md: {missing}"


def test_model_card_in_docs_is_the_one_beside_the_adapter():
    assert (DOCS / "model-card.md").read_text(encoding="utf-8") == MODEL_CARD.read_text(
        encoding="utf-8"
    ), "docs/model-card.md and models/legal-gemma3-270m/peft/README.md must be the same card"
    assert "More Information Needed" not in MODEL_CARD.read_text(encoding="utf-8")
