"""Hostile and broken data files (issue 18): every bad row reported with ``file:line`` and a
reason, every good row kept, the counts adding up (rows read = kept + rejected).

The files are made here in tmp_path: truncated JSONL, GBK, UTF-16 (with and without BOM), a
UTF-8 BOM, a 50 MB line, mixed schemas, an empty file, and a statute with broken numbering, read
by prepare-data's readers (alone and through the whole stage) and by build-index's reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recipes.build_index.reader import parse_file
from recipes.shared.records import Rejection
from tests.recipes.prepare_data.helpers import read

REPO = Path(__file__).resolve().parents[2]
GOOD = [
    {
        "instruction": f"问题{i}：对方违约了，我可以怎么办？",
        "input": "",
        "output": f"答复{i}：可以要求赔偿。",
    }
    for i in range(4)
]
LINES = [json.dumps(r, ensure_ascii=False) for r in GOOD]
BIG_CHARS = 50 * 1024 * 1024 // 3  # a 50 MB line of three-byte characters
# file -> (bytes, {line: rule} of the rows that must be rejected)
MIXED = [
    LINES[0],
    json.dumps({"question": "题", "options": {"A": "甲", "B": "乙"}, "answer": "A"}),
    "[1, 2]",
    '"just a string"',
    json.dumps({"foo": 1}),
    "null",
    json.dumps(
        {"messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]}
    ),
]
STATUTE = """# 某某条例
<!-- INFO END -->
## 第一章 总则
第一条 为了规范管理，制定本条例。
第二条 本条例适用于全国。
第二条 重复的第二条，文字不同。
第五条 跳到第五条。
第四条 倒回第四条。
第X条 占位的条号。
第六条
第七条 最后一条。
"""
STATUTE_HEADINGS = 8  # lines that start an article, the placeholder included


def hostile_files(root: Path) -> dict[str, tuple[int, dict[int, str]]]:
    """Write the files; name -> (rows in it, {line: rule} of the rows to reject)."""
    body = "\n".join(LINES) + "\n"
    files = {
        "truncated.jsonl": ((body + LINES[0][:25]).encode(), {5: "bad_json"}),
        "gbk.jsonl": (body.encode("gbk"), {}),
        "utf16.jsonl": (body.encode("utf-16"), {}),
        "utf16le_nobom.jsonl": (body.encode("utf-16-le"), {}),
        "bom.jsonl": (body.encode("utf-8-sig"), {}),
        "empty.jsonl": (b"", {0: "empty_file"}),
        "mixed.jsonl": (
            ("\n".join(MIXED) + "\n").encode(),
            {3: "bad_row", 4: "bad_row", 5: "unknown_format", 6: "bad_row"},
        ),
        "big.jsonl": (
            (
                LINES[0]
                + "\n"
                + json.dumps({"instruction": "长", "output": "字" * BIG_CHARS}, ensure_ascii=False)
                + "\n"
                + LINES[1]
                + "\n"
            ).encode(),
            {},
        ),
    }
    out = {}
    root.mkdir(parents=True, exist_ok=True)
    for name, (data, bad) in files.items():
        (root / name).write_bytes(data)
        rows = sum(1 for ln in data.decode(_enc(name)).splitlines() if ln.strip())
        out[name] = (max(rows, 1), bad)  # an empty file is one rejected item
    return out


def _enc(name: str) -> str:
    return {"gbk.jsonl": "gbk", "utf16.jsonl": "utf-16", "utf16le_nobom.jsonl": "utf-16-le"}.get(
        name, "utf-8-sig"
    )


def test_each_bad_row_is_reported_every_good_row_kept(tmp_path: Path) -> None:
    for name, (rows, bad) in hostile_files(tmp_path).items():
        recs, rej = read(tmp_path, name)
        assert len(recs) + len(rej) == rows, name  # rows read = kept + rejected
        got = {int(r.origin.rsplit(":", 1)[1]) if ":" in r.origin else 0: r for r in rej}
        assert {n: r.rule for n, r in got.items()} == bad, name
        for r in rej:
            assert r.origin.startswith(str(tmp_path / name)) and r.reason, r
        if name == "truncated.jsonl":
            assert "cut short" in got[5].reason
        if name in ("gbk.jsonl", "utf16.jsonl", "utf16le_nobom.jsonl", "bom.jsonl"):
            assert [r["output"] for r in recs] == [g["output"] for g in GOOD], name
        if name == "big.jsonl":  # the 50 MB row is read whole (the length filter judges it)
            assert sorted(len(r["output"]) for r in recs)[-1] == BIG_CHARS


def test_statute_with_broken_numbering(tmp_path: Path) -> None:
    for enc in ("utf-8", "gbk", "utf-16"):
        path = tmp_path / enc / "某某条例.md"
        path.parent.mkdir()
        path.write_bytes(STATUTE.encode(enc))
        # prepare-data
        recs, rej = read(tmp_path / enc, "某某条例.md", "statutes")
        assert [r["_statute"]["article"] for r in recs] == [
            "第一条",
            "第二条",
            "第五条",
            "第四条",
            "第七条",
        ]
        assert len({r["id"] for r in recs}) == len(recs)  # one id, one text
        assert recs[3]["output"].endswith("倒回第四条。")  # the placeholder is not glued on
        lines = {int(r.origin.rsplit(":", 1)[1]): r.rule for r in rej}
        assert lines == {6: "duplicate_article", 9: "bad_article_number", 10: "empty_article"}
        assert len(recs) + len(rej) == STATUTE_HEADINGS
        # build-index
        f = parse_file(tmp_path / enc, path, "public-domain")
        assert f.title == "某某条例", enc  # GBK and UTF-16 are decoded, not replaced by �
        dropped = {int(p.origin.rsplit(":", 1)[1]) for p in f.problems if not p.kept}
        assert dropped == {6, 9, 10}
        assert any("out of order" in p.problem and p.origin.endswith(":8") for p in f.problems)
        assert len(f.rows) + len(dropped) == STATUTE_HEADINGS
        assert (enc == "utf-8") != any("not UTF-8" in p.problem for p in f.problems)


def test_prepare_data_counts_add_up_over_hostile_files(tmp_path: Path) -> None:
    from legal_edge.settings.loader import load_config
    from recipes.prepare_data import Config, run

    files = hostile_files(tmp_path / "in")
    (tmp_path / "in" / "statute.md").write_text(STATUTE, encoding="utf-8")
    cfg = yaml.safe_load((REPO / "recipes/configs/data/smoke.yaml").read_text(encoding="utf-8"))
    cfg.update(
        data_root=str(tmp_path / "in"),
        output_dir=str(tmp_path / "out"),
        plots=False,
        resume=False,
        sources=[
            {"name": "rows", "path": "*.jsonl", "format": "auto", "license": "MIT"},
            {"name": "law", "path": "statute.md", "format": "statutes", "license": "MIT"},
        ],
    )
    cfg["synthesis"]["enabled"] = False
    cfg["decontam"]["eval_files"] = []
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    out = run(load_config(Config, tmp_path / "c.yaml", ()))
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    read_rows = sum(counts["read_per_source_config"].values())
    assert read_rows == sum(rows for rows, _ in files.values()) + STATUTE_HEADINGS
    assert read_rows == counts["train"] + counts["val"] + counts["rejected"]
    rejected = [json.loads(ln) for ln in (out / "rejected.jsonl").read_text().splitlines()]
    origins = {r["origin"].replace(str(tmp_path / "in") + "/", "") for r in rejected}
    for name, (_, bad) in files.items():
        for line in bad:
            assert (f"{name}:{line}" if line else name) in origins
    for line in (6, 9, 10):
        assert f"statute.md:{line}" in origins
    assert any(r["rule"] == "too_long" for r in rejected)  # the 50 MB row, judged by length


@pytest.mark.parametrize("data", [b"\xff\xfe\x00", "{}\n".encode("utf-16")[:-1]])
def test_broken_utf16_is_one_clear_rejection(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.jsonl").write_bytes(data)
    recs, rej = read(tmp_path, "x.jsonl")
    assert not recs and len(rej) == 1 and isinstance(rej[0], Rejection)
    assert rej[0].rule in ("bad_encoding", "empty_file") and rej[0].origin.endswith("x.jsonl")
