"""The plain ``./install.sh`` (no --dev) builds the statute index: build-index needs nothing from
the train or dev extras, and bm25s is a base dependency."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from legal_edge.statutes.index import StatuteIndex

REPO = Path(__file__).resolve().parents[3]
# Import names of what only `--dev` installs (the train and dev extras), scipy included: bm25s
# uses it when present and must do without. (tqdm is a base dependency: the build's progress.)
NOT_IN_PLAIN_INSTALL = (
    "torch transformers peft accelerate datasets datasketch sentencepiece safetensors docx pypdf "
    "matplotlib markdown_it scipy pytest openai langchain_openai"
).split()
BLOCKED_RUN = """
import sys
blocked = set(sys.argv[1].split())
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not in the plain install")
sys.meta_path.insert(0, Block())
sys.argv = ["legal-recipes", *sys.argv[2:]]
from recipes.cli import main
main()
"""


def test_build_index_dependencies_are_base_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {d.split(">")[0].split("=")[0].split("[")[0] for d in project["dependencies"]}
    assert {"bm25s", "jieba", "numpy", "click", "pyyaml"} <= base
    assert not any(d.startswith("bm25s") for d in project["optional-dependencies"]["train"])


@pytest.mark.slow
def test_build_index_runs_without_the_dev_extras(legal_data: Path, tmp_path: Path) -> None:
    statutes = tmp_path / "statutes" / "刑法"
    statutes.mkdir(parents=True)
    (statutes / "刑法.md").symlink_to(legal_data / "statutes" / "刑法" / "刑法.md")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKED_RUN,
            " ".join(NOT_IN_PLAIN_INSTALL),
            "build-index",
            "--config",
            str(REPO / "recipes/configs/index/statutes.yaml"),
            "--set",
            f"statutes_dir={tmp_path / 'statutes'}",
            "--set",
            f"output_dir={tmp_path / 'index'}",
            "--set",
            "workers=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    index = StatuteIndex(tmp_path / "index")
    rec = index.lookup("刑法", "264")
    assert rec is not None and rec.text.startswith("盗窃公私财物")
    assert index.search("盗窃公私财物数额较大", k=3)


def test_install_sh_refuses_a_missing_statutes_folder(tmp_path: Path) -> None:
    out = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--statutes"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "--statutes needs a folder" in out.stderr
