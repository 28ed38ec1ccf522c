"""Find llama.cpp's Python converters (``convert_hf_to_gguf.py``, ``convert_lora_to_gguf.py``).

They are not installed with llama-cpp-python's wheel, but its source distribution vendors the
whole llama.cpp tree. On first use we fetch that sdist for the installed llama-cpp-python version
with pip (one download, ~50 MB; pip's cache serves it again offline) and keep only the converter
scripts and the ``gguf-py`` package they import, under ``~/.cache/legal-edge/llama.cpp-<version>``.
The vendored ``gguf-py`` is used rather than the installed ``gguf`` so that script and library
always match.

Search order: ``$LLAMA_CPP_DIR`` (a llama.cpp checkout), the cache, then the download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

SCRIPTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")
_KEEP_PREFIXES = (
    ("gguf-py/", "conversion/", "models/templates/") + SCRIPTS + ("convert_hf_to_gguf_update.py",)
)


class LlamaCppToolsError(RuntimeError):
    """The llama.cpp converter scripts could not be found or fetched."""


def cache_root() -> Path:
    return Path(os.environ.get("LEGAL_EDGE_CACHE", Path.home() / ".cache" / "legal-edge"))


def llama_cpp_python_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "0.3.36"


def _has_scripts(d: Path) -> bool:
    return all((d / s).is_file() for s in SCRIPTS)


def llama_cpp_dir(download: bool = True) -> Path:
    """A directory holding llama.cpp's converter scripts (and ``gguf-py``)."""
    env = os.environ.get("LLAMA_CPP_DIR")
    if env:
        d = Path(env).expanduser()
        if not _has_scripts(d):
            raise LlamaCppToolsError(f"LLAMA_CPP_DIR={d} does not contain {', '.join(SCRIPTS)}")
        return d
    version = llama_cpp_python_version()
    target = cache_root() / f"llama.cpp-{version}"
    if _has_scripts(target) and (target / ".complete").is_file():
        return target
    if not download:
        raise LlamaCppToolsError(f"llama.cpp converters not cached in {target}")
    _fetch_from_sdist(version, target)
    return target


def _fetch_from_sdist(version: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="llama-sdist-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            tmp,
            f"llama-cpp-python=={version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            raise LlamaCppToolsError(
                f"could not download the llama-cpp-python {version} sdist for llama.cpp's "
                f"converters ({' '.join(cmd)}):\n{proc.stderr[-2000:]}\n"
                "Set LLAMA_CPP_DIR to a llama.cpp checkout instead."
            )
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_ensure(target.parent)))
        with tarfile.open(sdists[0]) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/vendor/llama.cpp/", 1)
                if len(parts) != 2 or not parts[1].startswith(_KEEP_PREFIXES):
                    continue
                if not (member.isfile() or member.isdir()):
                    continue
                member.name = parts[1]
                tar.extract(member, staging, filter="data")
        if not _has_scripts(staging):
            raise LlamaCppToolsError(f"{sdists[0].name} does not contain {', '.join(SCRIPTS)}")
        (staging / ".complete").write_text(sdists[0].name, encoding="utf-8")
        if target.exists():  # an incomplete extraction by an older version of this code
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:  # another process won the race
            if not _has_scripts(target):
                raise


def _ensure(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


def script(name: str) -> Path:
    """Path of one converter script, e.g. ``script("convert_lora_to_gguf.py")``."""
    if name not in SCRIPTS:
        raise ValueError(f"unknown llama.cpp script {name!r}; known: {', '.join(SCRIPTS)}")
    return llama_cpp_dir() / name


def run_script(name: str, args: list[str], *, timeout: float | None = None) -> str:
    """Run a converter with this interpreter; return its output or raise with its tail."""
    path = script(name)
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    proc = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise LlamaCppToolsError(f"{path.name} {' '.join(args)} failed:\n{out[-3000:]}")
    return out
