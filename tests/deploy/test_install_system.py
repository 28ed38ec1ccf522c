"""install.sh --system into a temporary root (--prefix): install, upgrade, uninstall, purge;
the unit passes systemd-analyze verify; the installed program serves with the installed config
and the generated API key."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from legal_edge.models.manifest import gguf_manifest
from legal_edge.settings.server import load_settings
from tests.conftest import REPO
from tests.deploy.serve_process import serve_process

INSTALL = REPO / "install.sh"
PROGRAM = REPO / ".venv" / "bin" / "legal-edge"  # any legal-edge executable stands in for a build


def install(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        ["bash", str(INSTALL), "--system", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture()
def models_from(tmp_path: Path, tiny_gguf: Path) -> Path:
    """A models directory holding one real (tiny) model."""
    d = tmp_path / "models-src" / "tiny"
    d.mkdir(parents=True)
    shutil.copy2(tiny_gguf, d / "tiny.gguf")
    m = gguf_manifest(d / "tiny.gguf", name="tiny")
    m.write(d)
    return d.parent


def test_install_upgrade_uninstall_purge(tmp_path: Path, models_from: Path) -> None:
    root = tmp_path / "root"
    out = install(
        "--prefix", str(root), "--binary", str(PROGRAM), "--models-from", str(models_from)
    )
    app, etc, data = root / "opt/legal-edge", root / "etc/legal-edge", root / "var/lib/legal-edge"
    unit = root / "etc/systemd/system/legal-edge.service"

    # everything in its place
    assert os.access(app / "bin/legal-edge", os.X_OK)
    assert (app / "VERSION").read_text().startswith("0.1.0")
    assert (data / "models/tiny/manifest.json").is_file() and (data / "feedback").is_dir()
    # the statute index beside the models, where the shipped manifest's ../runs/... points
    if (REPO / "runs/index/statutes/index.sqlite3").is_file():
        assert (data / "runs/index/statutes/index.sqlite3").stat().st_size > 1_000_000
    else:
        assert "grounded answers are off" in out.stderr
    config = etc / "config.yaml"
    assert config.stat().st_mode & 0o777 == 0o640  # the key is not world-readable
    cfg = yaml.safe_load(config.read_text())
    key = cfg["api_keys"][0]
    assert len(key) == 64 and key in out.stdout  # generated, and printed with how to call the API
    assert "Authorization: Bearer" in out.stdout
    assert cfg["models_dir"] == "/var/lib/legal-edge/models"
    settings = load_settings(config, environ={})  # the real loader accepts the written config
    assert settings.api_keys == (key,) and settings.host == "127.0.0.1"

    text = unit.read_text()
    assert "@" not in re.sub(r"#.*", "", text)  # every placeholder filled
    for line in (
        "User=legal-edge",
        "Restart=always",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/legal-edge",
        "ExecStart=/opt/legal-edge/bin/legal-edge serve --config /etc/legal-edge/config.yaml",
    ):
        assert line in text.splitlines(), line

    # upgrade: the office edited its config, has feedback and its own model; all of it stays
    config.write_text(config.read_text() + "log_level: warning  # edited by the office\n")
    before = config.read_text()
    (data / "feedback/feedback.sqlite3").write_bytes(b"office feedback")
    own = data / "models/office-model"
    own.mkdir()
    (own / "manifest.json").write_text("{}")
    (app / "stale-file").write_text("from the old version")
    out = install(
        "--prefix", str(root), "--binary", str(PROGRAM), "--models-from", str(models_from)
    )
    assert "upgrading" in out.stdout and "keeping" in out.stdout
    assert config.read_text() == before
    assert (data / "feedback/feedback.sqlite3").read_bytes() == b"office feedback"
    assert (own / "manifest.json").read_text() == "{}"
    assert not (app / "stale-file").exists()  # the program itself is replaced
    assert key not in out.stdout  # no new key printed on upgrade
    # an explicit --keep-conversations on an existing install changes that one key, nothing else
    install(
        "--prefix",
        str(root),
        "--binary",
        str(PROGRAM),
        "--models-from",
        str(models_from),
        "--keep-conversations",
        "30",
    )
    assert yaml.safe_load(config.read_text())["response_retention_days"] == 30
    assert config.read_text() == before.replace(
        "response_retention_days: 0", "response_retention_days: 30"
    )
    assert config.stat().st_mode & 0o777 == 0o640
    before = config.read_text()

    # uninstall keeps data, --purge removes it
    install("--prefix", str(root), "--uninstall")
    assert not app.exists() and not unit.exists()
    assert config.read_text() == before and (data / "feedback/feedback.sqlite3").is_file()
    install("--prefix", str(root), "--uninstall", "--purge")
    assert not etc.exists() and not data.exists()


def test_upgrade_replaces_an_untouched_shipped_model_only(
    tmp_path: Path, models_from: Path
) -> None:
    root = tmp_path / "root"
    args = ("--prefix", str(root), "--binary", str(PROGRAM), "--models-from", str(models_from))
    install(*args)
    models = root / "var/lib/legal-edge/models"
    # a newer shipped build (a retrained adapter, a merged form): the installed copy, untouched
    # since install, is replaced; the old one is kept out of the server's sight
    (models_from / "tiny" / "merged").mkdir()
    (models_from / "tiny" / "merged" / "model.gguf").write_bytes(b"newer build")
    out = install(*args)
    assert "upgrading model tiny" in out.stdout
    assert (models / "tiny/merged/model.gguf").read_bytes() == b"newer build"
    assert not (models / ".previous/tiny/merged").exists()
    assert (models / ".previous/tiny/manifest.json").is_file()
    assert not list(models.glob("*.partial"))
    # changed here since (an office retrained it in place): never replaced
    (models / "tiny/notes.txt").write_text("ours")
    (models_from / "tiny" / "merged" / "model.gguf").write_bytes(b"even newer")
    out = install(*args)
    assert "keeping model tiny (changed here" in out.stdout
    assert (models / "tiny/merged/model.gguf").read_bytes() == b"newer build"
    assert (models / "tiny/notes.txt").read_text() == "ours"


def test_bad_input_is_named(tmp_path: Path) -> None:
    out = install("--prefix", str(tmp_path), "--binary", str(tmp_path / "nope"), check=False)
    assert out.returncode != 0 and "--binary" in out.stderr and "not found" in out.stderr
    out = subprocess.run(
        ["bash", str(INSTALL), "--prefix", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode != 0 and "go with --system" in out.stderr
    assert not (tmp_path / "opt").exists()


def test_unit_passes_systemd_analyze_verify(tmp_path: Path, models_from: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    root = tmp_path / "root"
    install("--prefix", str(root), "--binary", str(PROGRAM), "--models-from", str(models_from))
    # verify resolves the unit's dependencies (sysinit.target, ...) inside --root: give the
    # temporary root the system's own units (copied: their absolute symlinks would dangle).
    shutil.copytree(
        "/usr/lib/systemd/system",
        root / "usr/lib/systemd/system",
        symlinks=False,
        ignore_dangling_symlinks=True,
        dirs_exist_ok=True,
    )
    out = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/legal-edge.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if "legal-edge" in ln]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr
    # and it does catch mistakes: a misspelt directive is reported
    unit = root / "etc/systemd/system/legal-edge.service"
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    out = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/legal-edge.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "NoNewPrivilege" in out.stderr


def test_installed_program_serves_with_the_generated_key(tmp_path: Path, models_from: Path) -> None:
    root = tmp_path / "root"
    install("--prefix", str(root), "--binary", str(PROGRAM), "--models-from", str(models_from))
    config = root / "etc/legal-edge/config.yaml"
    key = yaml.safe_load(config.read_text())["api_keys"][0]
    data = root / "var/lib/legal-edge"
    env = {
        "LEGAL_EDGE_MODELS_DIR": str(data / "models"),  # the paths the unit would give it
        "LEGAL_EDGE_FEEDBACK_DB": str(data / "feedback/feedback.sqlite3"),
    }
    argv = [
        str(root / "opt/legal-edge/bin/legal-edge"),
        "serve",
        "--config",
        str(config),
        "--model",
        "tiny",
    ]
    with serve_process(argv, tmp_path / "serve.log", env=env, cwd=data) as served:
        body = {
            "model": "tiny",
            "messages": [{"role": "user", "content": "合同"}],
            "max_tokens": 4,
            "temperature": 0,
        }
        assert httpx.post(served.url + "/v1/chat/completions", json=body).status_code == 401
        r = httpx.post(
            served.url + "/v1/chat/completions",
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1


@pytest.mark.slow
def test_venv_mode_installs_and_upgrades_the_runtime(tmp_path: Path, models_from: Path) -> None:
    """Without a build: a virtual environment under /opt/legal-edge (pip, ~1 min)."""
    root = tmp_path / "root"
    args = ("--venv", "--prefix", str(root), "--models-from", str(models_from))
    install(*args)
    program = root / "opt/legal-edge/bin/legal-edge"
    assert (root / "opt/legal-edge/venv/bin/python").is_file()
    assert "venv" in (root / "opt/legal-edge/VERSION").read_text()
    out = install(*args)
    assert "upgrading" in out.stdout
    version = subprocess.run([str(program), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "legal-edge" in version.stdout
