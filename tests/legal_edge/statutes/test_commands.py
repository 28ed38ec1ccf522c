"""``legal-edge statutes search / show / verify`` on the small real index."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from legal_edge.cli import main

pytestmark = pytest.mark.slow  # builds the small index (tests/fixtures/statute_index.py)


def test_show_search_verify(small_statute_index: Path) -> None:
    run = CliRunner().invoke
    ix = ["--index", str(small_statute_index)]
    r = run(main, ["statutes", "show", "刑法", "133-1", *ix])
    assert r.exit_code == 0, r.output
    assert "第一百三十三条之一" in r.output and "醉酒驾驶机动车" in r.output
    r = run(main, ["statutes", "search", "醉酒驾驶机动车会判刑吗", "-k", "3", "--json", *ix])
    assert r.exit_code == 0 and '"number": "133-1"' in r.output
    r = run(main, ["statutes", "verify", "《刑法》第264条；《民法典》第1500条", *ix])
    assert r.exit_code == 1
    assert "《刑法》第264条: in_force" in r.output
    assert "BAD 《民法典》第1500条: not_found" in r.output
    r = run(main, ["statutes", "show", "刑法", "第九百条", *ix])
    assert r.exit_code != 0 and "no article" in r.output
