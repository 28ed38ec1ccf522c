"""Document expansion on the small real index: lay words listed for an article make search find
it, through the same ``StatuteIndex.search`` the server runs; weight 0 turns it off, and the
build writes the table from the file its config names."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from legal_edge.statutes.index import SearchParams, StatuteIndex
from recipes.build_index.expansion import expand_index, read_expansion

pytestmark = pytest.mark.slow  # builds the small index

CODE = "中华人民共和国民法典"
# a lay question whose words the statute text does not use
QUESTION = "邻居家熊孩子把我车刮花了找谁赔"
EXPANSION = {
    "source": "test",
    "licence": "test",
    "articles": [{"law": CODE, "article": "1188", "terms": {"熊孩子": 3, "刮花": 2, "赔": 2}}],
}


def _keys(ix: StatuteIndex, q: str, k: int = 5) -> list[tuple[str, str]]:
    return [(r.law, r.number) for r in ix.search(q, k)]


@pytest.fixture(scope="module")
def expanded(small_statute_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("expanded")
    shutil.copy(small_statute_index / "index.sqlite3", out / "index.sqlite3")
    with sqlite3.connect(out / "index.sqlite3") as con:
        con.execute("DROP TABLE IF EXISTS expansion")  # whatever the build's file gave it
    expand_index(out / "index.sqlite3", EXPANSION, 1.5, 0.75)
    return out


def test_expansion_terms_find_their_article(small_statute_index: Path, expanded: Path) -> None:
    plain = StatuteIndex(small_statute_index, SearchParams(expansion_weight=0))
    assert (CODE, "1188") not in _keys(plain, QUESTION)
    ix = StatuteIndex(expanded)
    assert _keys(ix, QUESTION)[0] == (CODE, "1188")
    # a question without those words ranks as before
    theft = "盗窃财物数额较大怎么处罚"
    assert _keys(ix, theft) == _keys(plain, theft)
    # weight 0 reads the text alone
    assert _keys(StatuteIndex(expanded, SearchParams(expansion_weight=0)), QUESTION) == _keys(
        plain, QUESTION
    )


def test_the_build_reads_its_expansion_file(legal_data: Path, tmp_path: Path) -> None:
    from legal_edge.settings.loader import load_config
    from recipes.build_index import Config, run

    statutes = tmp_path / "statutes" / "民法典"
    statutes.mkdir(parents=True)
    (statutes / "侵权责任编.md").symlink_to(legal_data / "statutes/民法典/侵权责任编.md")
    exp = tmp_path / "expansion.json"
    exp.write_text(json.dumps(EXPANSION, ensure_ascii=False), encoding="utf-8")
    cfg = load_config(
        Config,
        Path(__file__).resolve().parents[3] / "recipes/configs/index/statutes.yaml",
        (
            f"statutes_dir={tmp_path / 'statutes'}",
            f"output_dir={tmp_path / 'ix'}",
            "workers=1",
            f"expansion={exp}",
        ),
    )
    index = run(cfg)
    assert _keys(StatuteIndex(index), QUESTION)[0] == (CODE, "1188")
    manifest = json.loads((index.parent / "manifest.json").read_text())
    assert manifest["expansion"]["path"] == "expansion.json"
    # a missing file builds without the table, and says so in the manifest
    missing = load_config(
        Config,
        Path(__file__).resolve().parents[3] / "recipes/configs/index/statutes.yaml",
        (
            f"statutes_dir={tmp_path / 'statutes'}",
            f"output_dir={tmp_path / 'ix2'}",
            "workers=1",
            f"expansion={tmp_path / 'none.json'}",
        ),
    )
    index = run(missing)
    assert json.loads((index.parent / "manifest.json").read_text())["expansion"] is None
    assert (CODE, "1188") not in _keys(StatuteIndex(index), QUESTION)


def test_a_file_that_is_not_an_expansion_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    with pytest.raises(ValueError, match="not an expansion file"):
        read_expansion(bad)
