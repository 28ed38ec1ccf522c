"""What the binary needs for statute search: jieba's dictionary, and nothing of the workshop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_spec_collects_the_jieba_dictionary() -> None:
    spec = (REPO / "build" / "legal-edge.spec").read_text(encoding="utf-8")
    assert 'collect_data_files("jieba", includes=["dict.txt"' in spec


def test_runtime_search_imports_neither_bm25s_nor_scipy() -> None:
    code = (
        "import sys, legal_edge.statutes.index, legal_edge.tools.statutes_commands; "
        "bad = [m for m in ('bm25s', 'scipy', 'recipes') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
