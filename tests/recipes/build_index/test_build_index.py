"""build-index on a real slice of the statutes: numbering, split codes, versions, problems."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from legal_edge.settings.loader import ConfigError, load_config
from recipes.build_index import Config

CONFIG = Path(__file__).resolve().parents[3] / "recipes/configs/index/statutes.yaml"


def _rows(index_dir: Path, sql: str, *args: object) -> list[tuple]:
    con = sqlite3.connect(index_dir / "index.sqlite3")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_config_loads_and_rejects_unknown_keys() -> None:
    first = CONFIG.read_text(encoding="utf-8").splitlines()[0]
    assert (
        first.startswith("# ")
        and "build-index --config recipes/configs/index/statutes.yaml" in first
    )
    assert load_config(Config, CONFIG).tokenizer == "words"
    with pytest.raises(ConfigError, match="tokeniser"):
        load_config(Config, CONFIG, ("tokeniser=words",))


@pytest.mark.slow
def test_articles_numbered_with_zhi(small_statute_index: Path) -> None:
    rows = _rows(
        small_statute_index,
        "SELECT label, chapter, text, origin FROM articles "
        "WHERE law = '中华人民共和国刑法' AND number = '133-1'",
    )
    assert len(rows) == 1
    label, chapter, text, origin = rows[0]
    assert label == "第一百三十三条之一"
    assert "危害公共安全罪" in chapter
    assert "醉酒驾驶机动车" in text
    path, line = origin.rsplit(":", 1)
    raw = (Path(small_statute_index).parent / "statutes" / path).read_text(encoding="utf-8")
    assert raw.splitlines()[int(line) - 1].startswith("第一百三十三条之一")


@pytest.mark.slow
def test_code_split_in_parts_is_one_law(small_statute_index: Path) -> None:
    rows = _rows(
        small_statute_index,
        "SELECT part, number, status FROM articles "
        "WHERE law = '中华人民共和国民法典' AND number IN ('1', '1165')",
    )
    assert sorted(rows) == [("侵权责任编", "1165", "in_force"), ("总则", "1", "in_force")]


@pytest.mark.slow
def test_versions_superseded_and_in_force(small_statute_index: Path) -> None:
    rows = _rows(
        small_statute_index,
        "SELECT version, status, effective_to FROM articles "
        "WHERE law = '中华人民共和国公司法' AND number = '1' ORDER BY version",
    )
    (old_v, old_s, old_to), (new_v, new_s, new_to) = rows
    assert (old_v, old_s) == ("2018-10-26", "superseded")
    assert (new_v, new_s, new_to) == ("2023-12-29", "in_force", None)
    assert old_to is not None and old_to >= new_v


@pytest.mark.slow
def test_malformed_file_reported_with_file_and_line(small_statute_index: Path) -> None:
    problems = [
        json.loads(x) for x in (small_statute_index / "rejects.jsonl").read_text().splitlines()
    ]
    by_origin = {p["origin"]: p for p in problems}
    assert "again" in by_origin["其他/测试条例.md:8"]["problem"]
    assert "without text" in by_origin["其他/测试条例.md:10"]["problem"]
    manifest = json.loads((small_statute_index / "manifest.json").read_text())
    assert manifest["stage"] == "build-index"
    assert manifest["counts"]["problems"] == len(problems) >= 2
    assert manifest["counts"]["superseded"] > 0 and manifest["counts"]["in_force"] > 0
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert _rows(small_statute_index, "SELECT text FROM articles WHERE law = '测试条例'") == [
        ("第一条的内容。",)
    ]


def test_missing_statutes_dir_names_the_key(tmp_path: Path) -> None:
    from recipes.build_index import run

    cfg = load_config(
        Config, CONFIG, (f"statutes_dir={tmp_path / 'none'}", f"output_dir={tmp_path}")
    )
    with pytest.raises(ConfigError, match="statutes_dir"):
        run(cfg)
