"""The whole recipe on a tiny real GGUF and a handful of real rows: every suite, two models,
the comparison table, the manifest update, and resuming from predictions.jsonl."""

import json
from pathlib import Path

import pytest

from legal_edge.models.manifest import ModelManifest, gguf_manifest
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from legal_edge.settings.loader import ConfigError, load_config
from recipes.evaluate import Config, run

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "recipes/configs/eval").glob("*.yaml"))


def suites(legal_data: Path) -> list[dict]:
    d = str(legal_data)
    return [
        {
            "name": "jecqa",
            "kind": "mcq",
            "path": f"{d}/mcq/jecqa_train.jsonl",
            "limit": 3,
            "shots": 1,
        },
        {
            "name": "lawbench",
            "kind": "mcq",
            "path": f"{d}/mcq/lawbench_case_analysis.jsonl",
            "limit": 2,
            "modes": ["loglik"],
        },
        {
            "name": "cases",
            "kind": "case",
            "path": f"{d}/cases/lexeval_generation.jsonl",
            "limit": 2,
            "max_tokens": 8,
        },
        {
            "name": "hk",
            "kind": "case",
            "path": f"{d}/cases/safelawbench_hk_en.jsonl",
            "limit": 2,
            "max_tokens": 8,
        },
        {
            "name": "xstest",
            "kind": "safety",
            "path": f"{d}/safety/xstest_en.jsonl",
            "limit": 4,
            "max_tokens": 6,
        },
        {
            "name": "cmmlu",
            "kind": "general",
            "path": str(legal_data.parent / "general-eval/cmmlu"),
            "subjects": ["jurisprudence"],
            "limit": 2,
            "shots": 1,
        },
    ]


@pytest.fixture()
def tuned_dir(tmp_path, tiny_gguf):
    """A model directory (manifest + GGUF) holding a different tiny model: the 'fine-tuned' one."""
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    d = tmp_path / "tuned"
    gguf = write_tiny_gguf(d / "tuned.gguf", chat_template=GEMMA_CHAT_TEMPLATE, seed=1)
    gguf_manifest(gguf, name="tuned", stop=["<end_of_turn>"]).write(d)
    return d


def make_config(tmp_path, tiny_gguf, tuned_dir, legal_data, **extra) -> Config:
    data = {
        "output_dir": str(tmp_path / "out"),
        "bootstrap_samples": 50,
        "models": [
            {"name": "base", "path": str(tiny_gguf), "n_ctx": 2048, "n_threads": 1},
            {"name": "tuned", "path": str(tuned_dir), "n_ctx": 2048, "n_threads": 1},
        ],
        "suites": suites(legal_data),
        **extra,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load_config(Config, path)


def test_every_suite_two_models_report_and_manifest(tmp_path, tiny_gguf, tuned_dir, legal_data):
    cfg = make_config(tmp_path, tiny_gguf, tuned_dir, legal_data)
    out = run(cfg)
    results = json.loads((out / "results.json").read_text())
    assert set(results["suites"]) == {"jecqa", "lawbench", "cases", "hk", "xstest", "cmmlu"}
    for suite in results["suites"].values():
        for model in ("base", "tuned"):
            metrics = suite["models"][model]["metrics"]
            assert metrics, suite
            for est in metrics.values():
                assert set(est) == {"value", "ci_low", "ci_high", "n"}
                if est["value"] is not None:
                    assert est["ci_low"] <= est["value"] <= est["ci_high"]
    jec = results["suites"]["jecqa"]
    assert {"acc_loglik", "acc_generate", "invalid_generate"} <= set(
        jec["models"]["base"]["metrics"]
    )
    assert jec["baselines"]["random"]["acc"] > 0
    assert "acc_generate" not in results["suites"]["lawbench"]["models"]["base"]["metrics"]
    assert {"rouge_l", "char_f1", "citation_precision", "citation_recall"} <= set(
        results["suites"]["cases"]["models"]["base"]["metrics"]
    )
    assert {"refusal_rate", "over_refusal_rate"} <= set(
        results["suites"]["xstest"]["models"]["base"]["metrics"]
    )
    rows = results["comparison"]
    assert rows and all(r["original_model"] == "base" and r["model"] == "tuned" for r in rows)
    assert all(isinstance(r["within_noise"], bool) for r in rows if r["change"] is not None)

    preds = [json.loads(line) for line in (out / "predictions.jsonl").open(encoding="utf-8")]
    assert len(preds) == 2 * (3 + 2 + 2 + 2 + 4 + 2)
    assert all(p["where"] and "metrics" in p for p in preds)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| suite | metric | original | other | change |" in report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and "data:image/png;base64" in html

    manifest = ModelManifest.read(tuned_dir)
    assert manifest.evaluation["original_model"] == "base"
    assert manifest.evaluation["suites"]["jecqa"]["metrics"]["acc_loglik"]["n"] == 3
    assert manifest.evaluation["changes"]
    recorded = manifest.evaluation["results"]  # relative: a committed manifest names no host path
    assert not Path(recorded).is_absolute()
    assert (tuned_dir / recorded).resolve() == (out / "results.json").resolve()


def test_resume_continues_from_predictions(tmp_path, tiny_gguf, tuned_dir, legal_data):
    cfg = make_config(
        tmp_path,
        tiny_gguf,
        tuned_dir,
        legal_data,
        write_manifest=False,
        charts=False,
        suite_filter=["jecqa", "xstest"],
    )
    out = run(cfg)
    pred_file = out / "predictions.jsonl"
    full = pred_file.read_text(encoding="utf-8").splitlines()
    first = json.loads((out / "results.json").read_text())["suites"]
    # Interrupted: only 3 items were written, the 4th line was cut mid-write.
    pred_file.write_text("\n".join(full[:3]) + "\n" + full[3][:20], encoding="utf-8")
    run(cfg)
    again = pred_file.read_text(encoding="utf-8").splitlines()
    assert len(again) == len(full)
    assert sorted(again[:3]) == sorted(full[:3])  # finished items were not re-scored
    second = json.loads((out / "results.json").read_text())["suites"]
    for name in first:  # deterministic: the same numbers
        for model in first[name]["models"]:
            assert (
                first[name]["models"][model]["metrics"] == second[name]["models"][model]["metrics"]
            )


def test_bad_rows_are_counted_in_results(tmp_path, tiny_gguf, legal_data):
    rows = [
        json.loads(line)
        for line in (legal_data / "mcq/jecqa_train.jsonl").open(encoding="utf-8").readlines()[:3]
    ]
    rows.append({**rows[0], "id": "bad1", "answer": "E"})
    rows.append({**rows[0], "id": "bad2", "options": {}})
    path = tmp_path / "mcq.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    data = {
        "output_dir": str(tmp_path / "o"),
        "bootstrap_samples": 20,
        "write_manifest": False,
        "models": [{"name": "m", "path": str(tiny_gguf), "n_ctx": 2048, "n_threads": 1}],
        "suites": [{"name": "s", "kind": "mcq", "path": str(path), "modes": ["loglik"]}],
    }
    (tmp_path / "c.yaml").write_text(json.dumps(data), encoding="utf-8")
    cfg = load_config(Config, tmp_path / "c.yaml")
    results = json.loads((run(cfg) / "results.json").read_text())
    suite = results["suites"]["s"]
    assert suite["n_items"] == 3
    assert suite["skipped"] == {"answer outside options": 1, "missing options": 1}
    assert any(f"{path}:4" in s for s in suite["skipped_examples"])


def test_config_errors_name_the_problem(tmp_path, tiny_gguf):
    with pytest.raises(ConfigError, match="models"):
        run(Config(output_dir=tmp_path))
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"models": [{"name": "m", "path": str(tiny_gguf), "bogus": 1}]}))
    with pytest.raises(ConfigError, match="bogus"):
        load_config(Config, path)
    path.write_text(
        json.dumps(
            {
                "output_dir": str(tmp_path / "o"),
                "models": [{"name": "m", "backend": "http", "url": "http://127.0.0.1:9"}],
                "suites": [
                    {
                        "name": "s",
                        "kind": "safety",
                        "path": "../shared/legal-data/safety/xstest_en.jsonl",
                        "limit": 1,
                    }
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9"):
        run(load_config(Config, path))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(Config, path, ["output_dir=/tmp/x"])
    assert cfg.models and cfg.suites
    assert path.read_text(encoding="utf-8").startswith("#")


def test_cli_help():
    from click.testing import CliRunner

    from recipes.cli import main

    result = CliRunner().invoke(main, ["evaluate", "--help"])
    assert result.exit_code == 0 and "--config" in result.output


def test_prompts_longer_than_the_context_are_skipped_and_counted(tmp_path, tiny_gguf, legal_data):
    data = {
        "output_dir": str(tmp_path / "o"),
        "bootstrap_samples": 20,
        "write_manifest": False,
        "models": [{"name": "m", "path": str(tiny_gguf), "n_ctx": 64, "n_threads": 1}],
        "suites": [
            {
                "name": "s",
                "kind": "mcq",
                "limit": 2,
                "path": str(legal_data / "mcq/lawbench_case_analysis.jsonl"),
            }
        ],
    }
    (tmp_path / "c.yaml").write_text(json.dumps(data), encoding="utf-8")
    results = json.loads(
        (run(load_config(Config, tmp_path / "c.yaml")) / "results.json").read_text()
    )
    scored = results["suites"]["s"]["models"]["m"]
    assert scored["skipped_items"] == {"prompt exceeds context": 2}
    assert scored["n_scored"] == 0 and scored["metrics"] == {}


def test_a_replaced_model_is_scored_again_not_reused(tmp_path, tiny_gguf, tuned_dir, legal_data):
    """Resuming reuses an item only for the same weights: a directory whose GGUF was replaced
    (a retrained adapter, say) is answered again, while the unchanged base is reused."""
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    cfg = make_config(
        tmp_path,
        tiny_gguf,
        tuned_dir,
        legal_data,
        write_manifest=False,
        charts=False,
        suite_filter=["xstest"],
    )
    pred_file = run(cfg) / "predictions.jsonl"

    def records() -> list[dict]:
        return [json.loads(line) for line in pred_file.read_text(encoding="utf-8").splitlines()]

    before = records()
    gguf = write_tiny_gguf(tuned_dir / "tuned.gguf", chat_template=GEMMA_CHAT_TEMPLATE, seed=2)
    gguf_manifest(gguf, name="tuned", stop=["<end_of_turn>"]).write(tuned_dir)
    run(cfg)
    after = records()
    n_base = sum(r["model"] == "base" for r in before)
    n_tuned = sum(r["model"] == "tuned" for r in before)
    assert n_base == n_tuned == 4
    assert sum(r["model"] == "base" for r in after) == n_base  # reused
    assert sum(r["model"] == "tuned" for r in after) == 2 * n_tuned  # answered again
    old = {r["sig"] for r in before if r["model"] == "tuned"}
    new = {r["sig"] for r in after if r["model"] == "tuned"} - old
    assert len(new) == 1
