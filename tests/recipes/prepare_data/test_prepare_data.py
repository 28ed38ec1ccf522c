"""prepare-data end to end: real rows of every kind plus broken files, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from legal_edge.settings.loader import ConfigError, load_config
from recipes.cli import main
from recipes.prepare_data import Config, run
from recipes.prepare_data.config import DedupConfig
from recipes.prepare_data.dedup import deduplicate
from recipes.shared.records import OUTPUT_KEYS, full_text
from tests.conftest import REPO

CONFIGS = REPO / "recipes" / "configs" / "data"


def small_config(tmp_path: Path, legal_data: Path, **extra) -> Path:
    """The legal_zh config, cut to a few rows per source, plus a folder of broken files."""
    cfg = yaml.safe_load((CONFIGS / "legal_zh.yaml").read_text(encoding="utf-8"))
    for src in cfg["sources"]:
        src["limit"] = 120 if src["name"] == "statutes" else 40
    bad = tmp_path / "office"
    bad.mkdir()
    (bad / "notes.jsonl").write_bytes(
        "\n".join(
            [
                json.dumps(
                    {
                        "instruction": "客户咨询：我的电话13812345678，欠款怎么追？",
                        "input": "",
                        "output": "可以先发律师函催告，再向人民法院起诉。",
                    },
                    ensure_ascii=False,
                ),
                '{"instruction": "broken',
                json.dumps({"instruction": "没有答案"}, ensure_ascii=False),
            ]
        ).encode("utf-8")
        + b"\n"
    )
    (bad / "empty.jsonl").write_bytes(b"")
    cfg["sources"].append(
        {
            "name": "office",
            "path": str(bad),
            "format": "auto",
            "license": "office-internal",
            "category": "consultation",
            "pii": True,
        }
    )
    # the law subjects only: indexing all of CMMLU costs seconds per run
    cfg["decontam"]["eval_files"] = [
        "safety/xstest_en.jsonl",
        "../general-eval/cmmlu/test/*law*.csv",
    ]
    cfg["data_root"] = str(legal_data)
    cfg["output_dir"] = str(tmp_path / "out")
    cfg.update(extra)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", ["legal_zh", "legal_zh_mix", "smoke"])
def test_shipped_configs_load_and_point_at_real_files(name: str, legal_data: Path) -> None:
    from recipes.prepare_data.config import validate

    cfg = load_config(Config, CONFIGS / f"{name}.yaml", [f"data_root={legal_data}"])
    validate(cfg)
    assert cfg.output_dir == Path(f"runs/data/{name}")


def test_bad_config_fails_before_any_work(tmp_path: Path, legal_data: Path) -> None:
    path = small_config(tmp_path, legal_data)
    with pytest.raises(ConfigError, match="unknown config key dedup.nmu_perm"):
        load_config(Config, path, ["dedup.nmu_perm=3"])
    with pytest.raises(ConfigError, match=r"synthesis.templates\[1\]: unknown template 'quiz'"):
        run(load_config(Config, path, ["synthesis.templates=[chapter,quiz]"]))
    with pytest.raises(ConfigError, match="sources\\[0\\].format"):
        load_config(Config, path, ["sources=[{name: a, path: b, format: xml}]"])
    with pytest.raises(ConfigError, match=r"decontam.eval_files\[0\]: not found"):
        run(load_config(Config, path, ["decontam.eval_files=[nowhere/*.csv]"]))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sources"][2]["path"] = "qa/missing.jsonl"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\[2\]\.path \(consult_single\): not found"):
        run(load_config(Config, path))
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["prepare-data", "--config", str(path)])
    assert result.exit_code == 2 and "not found" in result.output


def test_end_to_end_through_the_cli(tmp_path: Path, legal_data: Path) -> None:
    path = small_config(tmp_path, legal_data)
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(
        main, ["prepare-data", "--config", str(path), "--set", f"output_dir={out}"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)  # stdout: the path only (the summary is on stderr)
    for name in (
        "train.jsonl",
        "val.jsonl",
        "rejected.jsonl",
        "report.md",
        "report.html",
        "manifest.json",
        "dataset_info.json",
        "train_sharegpt.jsonl",
    ):
        assert (out / name).is_file(), name
    train, val = jsonl(out / "train.jsonl"), jsonl(out / "val.jsonl")
    assert train and val
    for rec in train + val:
        assert tuple(rec)[:7] == OUTPUT_KEYS and set(rec) <= {*OUTPUT_KEYS, "messages"}
    cats = {r["category"] for r in train}
    assert {"statute", "synthetic_statute", "consultation", "exam_mcq", "case", "safety"} <= cats
    assert any(r.get("messages") for r in train + val)  # multi-turn kept
    # PII from the office file is redacted
    office = [r for r in train + val if r["license"] == "office-internal"]
    assert (
        office
        and "13812345678" not in office[0]["instruction"]
        and "[电话]" in office[0]["instruction"]
    )
    # every rejection says which rule and where
    rejected = jsonl(out / "rejected.jsonl")
    origins = {(Path(r["origin"]).name, r["rule"]) for r in rejected}
    assert ("notes.jsonl:2", "bad_json") in origins
    assert ("notes.jsonl:3", "missing_field") in origins
    assert ("empty.jsonl", "empty_file") in origins
    assert all(r["rule"] and r["reason"] and r["origin"] for r in rejected)
    # nothing is dropped silently: every row read is in train, val or rejected (+ synthesized)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    synthesized = sum(v for k, v in counts["synthesis"].items() if ":" not in k and k != "capped")
    read_rows = sum(counts["read_per_source_config"].values())
    assert read_rows + synthesized == len(train) + len(val) + len(rejected)
    assert manifest["stage"] == "prepare-data" and manifest["inputs"][0]["sha256"]
    assert counts["train_per_license"]["research-only"] > 0
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["legal_edge_train"]["formatting"] == "sharegpt"
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "research-only" in report and "bad_json" in report and "records/s" in report
    # leak-free: no near-duplicate pair across train and validation
    texts = [full_text(r) for r in train + val]
    res = deduplicate(texts, ["c"] * len(texts), DedupConfig())
    crossing = [
        (i, j) for i, (j, _, _) in res.duplicate_of.items() if (i < len(train)) != (j < len(train))
    ]
    assert not crossing


def test_licence_control_and_determinism(tmp_path: Path, legal_data: Path) -> None:
    path = small_config(tmp_path, legal_data)
    overrides = [
        "allow_licenses=[MIT,public-domain]",
        "exclude_sources=[lexeval_gen]",
        "plots=false",
        "max_per_category={exam_mcq: 5}",
    ]
    out1 = run(load_config(Config, path, [*overrides, f"output_dir={tmp_path / 'a'}"]))
    out2 = run(load_config(Config, path, [*overrides, f"output_dir={tmp_path / 'b'}"]))
    train = jsonl(out1 / "train.jsonl")
    assert {r["license"] for r in train} <= {"MIT", "public-domain"}
    assert not any(r["id"].startswith("lexeval_gen/") for r in train)
    rules = {r["rule"] for r in jsonl(out1 / "rejected.jsonl")}
    assert {"license_excluded", "source_excluded", "category_cap"} <= rules
    val = jsonl(out1 / "val.jsonl")
    assert sum(r["category"] == "exam_mcq" for r in train + val) == 5
    for name in ("train.jsonl", "val.jsonl"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()


@pytest.mark.slow
def test_smoke_config_runs(tmp_path: Path, legal_data: Path) -> None:
    cfg = load_config(
        Config,
        CONFIGS / "smoke.yaml",
        [f"data_root={legal_data}", f"output_dir={tmp_path / 'smoke'}"],
    )
    out = run(cfg)
    assert len(jsonl(out / "train.jsonl")) > 2000


def test_rerun_resumes_from_the_checkpoint(tmp_path: Path, legal_data: Path, monkeypatch) -> None:
    import recipes.prepare_data.stage as prep

    path = small_config(tmp_path, legal_data, plots=False)
    out = run(load_config(Config, path))
    first = (out / "train.jsonl").read_bytes()
    assert list((out / ".checkpoint").glob("clean-*.pkl"))

    def boom(*a, **k):
        raise AssertionError("dedup ran again")

    monkeypatch.setattr(prep, "deduplicate", boom)
    # an interrupted write: the output is gone, the checkpoint is not
    (out / "train.jsonl").unlink()
    out = run(load_config(Config, path))
    assert (out / "train.jsonl").read_bytes() == first
    # a later-step setting may change without invalidating the checkpoint
    out = run(load_config(Config, path, ["split.seed=99"]))
    assert (out / "train.jsonl").read_bytes() != first
    # a setting the cleaned records depend on starts over
    with pytest.raises(AssertionError, match="dedup ran again"):
        run(load_config(Config, path, ["filters.max_chars=5000"]))
