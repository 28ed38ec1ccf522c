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


def test_without_index_the_commands_find_the_served_models_index(
    small_statute_index: Path, tiny_gguf: Path, tmp_path: Path
) -> None:
    """As on a default install: no --index, no statutes_index, the model's manifest names it."""
    import os
    import shutil

    from legal_edge.models.manifest import gguf_manifest

    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    shutil.copy2(tiny_gguf, models / "tiny" / "tiny.gguf")
    manifest = gguf_manifest(models / "tiny" / "tiny.gguf", name="tiny")
    manifest.statutes_index = os.path.relpath(small_statute_index, models)
    manifest.write(models / "tiny")
    config = tmp_path / "legal-edge.yaml"
    config.write_text(f"models_dir: {models}\nmodel: tiny\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["statutes", "show", "刑法", "133-1", "--config", str(config)])
    assert r.exit_code == 0, r.output
    assert "醉酒驾驶机动车" in r.output

    manifest.statutes_index = None
    manifest.write(models / "tiny")
    r = CliRunner().invoke(main, ["statutes", "show", "刑法", "133-1", "--config", str(config)])
    assert r.exit_code != 0 and "pass --index" in r.output
