"""Versioned statute indexes: a build becomes the served one in one rename, the previous one stays
for rollback, an interrupted build changes nothing, a server holding the old index keeps
answering from it and opens the new one when it starts again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.settings.loader import load_config
from legal_edge.statutes import store
from legal_edge.statutes.index import StatuteIndex
from recipes.build_index import Config, run

REPO = Path(__file__).resolve().parents[3]
LAW = "# 测试条例\n\n{date} 公布\n\n<!-- INFO END -->\n\n第一条 {text}\n\n第二条 第二条的内容。\n"


def corpus(root: Path, date: str, text: str) -> Path:
    folder = root / "statutes" / "其他"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / f"测试条例({date}).md").write_text(LAW.format(date=date, text=text), "utf-8")
    return root / "statutes"


def build(root: Path, date: str, text: str, *extra: str) -> Path:
    cfg = load_config(
        Config,
        REPO / "recipes/configs/index/statutes.yaml",
        (
            f"statutes_dir={corpus(root, date, text)}",
            f"output_dir={root / 'index'}",
            "workers=1",
            *extra,
        ),
    )
    return run(cfg)


def first_article(index: StatuteIndex) -> str:
    rec = index.lookup("测试条例", "1")
    assert rec is not None
    return rec.text


def test_publish_swaps_keeps_the_previous_and_a_rollback_returns_to_it(tmp_path: Path) -> None:
    link = tmp_path / "index"
    build(tmp_path, "2020-01-01", "旧的第一条。")
    old_open = StatuteIndex(link)  # a running server's index
    first = store.served(link)
    build(tmp_path, "2021-01-01", "新的第一条。")
    assert link.is_symlink() and store.served(link) != first
    # the open index keeps answering from the old file; a restart opens the new one
    assert first_article(old_open) == "旧的第一条。"
    assert first_article(StatuteIndex(link)) == "新的第一条。"
    kept = store.versions(link)
    assert [v.current for v in kept] == [False, True] and kept[0].path == first
    build(tmp_path, "2022-01-01", "更新的第一条。")
    kept = store.versions(link)
    assert len(kept) == 2 and first not in [v.path for v in kept]  # only one previous is kept
    back = store.rollback(link)
    assert store.served(link) == back and first_article(StatuteIndex(link)) == "新的第一条。"
    with pytest.raises(store.StoreError, match="no version older"):
        store.rollback(link)
    old_open.close()


def test_an_interrupted_build_leaves_the_served_index_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "index"
    build(tmp_path, "2020-01-01", "旧的第一条。")
    served = store.served(link)
    import recipes.build_index.stage as stage

    def interrupted(path: Path) -> None:
        assert path.is_file() and path.parent.name.endswith(store.PARTIAL)
        raise KeyboardInterrupt  # Ctrl-C after the new index file was written

    monkeypatch.setattr(stage, "calibrate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, "2021-01-01", "新的第一条。")
    assert store.served(link) == served
    assert first_article(StatuteIndex(link)) == "旧的第一条。"
    assert not list(store.versions_dir(link).glob(f"*{store.PARTIAL}"))
    assert [v.path for v in store.versions(link)] == [served]


def test_an_index_folder_from_before_versions_is_moved_into_them(tmp_path: Path) -> None:
    link = tmp_path / "index"
    build(tmp_path, "2020-01-01", "旧的第一条。")
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in store.served(link).iterdir():  # type: ignore[union-attr]
        (plain / f.name).write_bytes(f.read_bytes())
    link.unlink()
    plain.rename(link)  # runs/index/statutes as install.sh wrote it before versions
    build(tmp_path, "2021-01-01", "新的第一条。")
    assert link.is_symlink() and first_article(StatuteIndex(link)) == "新的第一条。"
    before = [v for v in store.versions(link) if v.path.name.endswith("-before-versions")]
    assert len(before) == 1 and not before[0].current
    store.rollback(link)
    assert first_article(StatuteIndex(link)) == "旧的第一条。"


def test_a_folder_of_other_files_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "notes.txt").write_text("mine")
    with pytest.raises(store.StoreError, match="notes.txt"):
        build(tmp_path, "2020-01-01", "第一条。")
    assert (tmp_path / "index" / "notes.txt").read_text() == "mine"


def test_unchanged_inputs_keep_the_index_when_asked(tmp_path: Path) -> None:
    link = tmp_path / "index"
    build(tmp_path, "2020-01-01", "旧的第一条。")
    served = store.served(link)
    build(tmp_path, "2020-01-01", "旧的第一条。", "skip_if_current=true")
    assert store.served(link) == served and len(store.versions(link)) == 1
    build(tmp_path, "2020-01-01", "改过的第一条。", "skip_if_current=true")  # the file changed
    assert store.served(link) != served
    manifest = json.loads((link / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["seconds"]) >= {"reading sources", "tokenizing", "total"}
