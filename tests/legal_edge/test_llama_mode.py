"""The llama.cpp CPU mode: a probe that dies by a signal makes everything fall back, on any host.

``LEGAL_EDGE_PROBE_FAULT`` makes the probe child kill itself the way an AMX Xeon kills it
(SIGILL before its first decode with repacked weights), so the fallback path runs in CI
whatever CPU CI has.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from legal_edge.backends.llamacpp import cpu_mode
from legal_edge.models.gguf_metadata import read_gguf_tensor_types
from tests.conftest import REPO
from tests.deploy.serve_process import serve_process


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cpu_mode.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(cpu_mode.ENV_PROBE_FAULT, raising=False)
    monkeypatch.delenv(cpu_mode.ENV_MODE, raising=False)
    monkeypatch.setattr(cpu_mode, "_decided", {})
    return tmp_path / "cache" / "cpu-modes.json"


def test_tensor_types_are_read_from_the_header(tiny_gguf: Path) -> None:
    types = read_gguf_tensor_types(tiny_gguf)
    assert "token_embd.weight" in types and set(types.values()) <= {"F32", "F16"}


def test_a_probe_killed_by_a_signal_means_plain_kernels(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cpu_mode.ENV_PROBE_FAULT, "SIGILL")
    mode = cpu_mode.decide(tiny_gguf)
    assert mode == cpu_mode.CpuMode(False, mode.reason, "probe")
    assert "SIGILL" in mode.reason and "plain CPU kernels" in mode.reason
    # cached per build + CPU + tensor types: a new process does not probe again
    monkeypatch.setattr(cpu_mode, "_decided", {})
    monkeypatch.delenv(cpu_mode.ENV_PROBE_FAULT)
    assert cpu_mode.decide(tiny_gguf) == cpu_mode.CpuMode(False, mode.reason, "cache")
    cached = json.loads(fresh_cache.read_text())
    assert [v["repack"] for v in cached.values()] == [False]


def test_a_probe_that_decodes_keeps_repacking(tiny_gguf: Path, fresh_cache: Path) -> None:
    # F32 weights have no repacked kernels, so this decode works on every CPU
    mode = cpu_mode.decide(tiny_gguf)
    assert mode.repack and mode.source == "probe" and "succeeded" in mode.reason


def test_a_setting_forces_the_mode_without_probing(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a forced mode must not start a probe")

    monkeypatch.setattr(subprocess, "run", no_child)
    assert not cpu_mode.decide(tiny_gguf, setting="off").repack
    assert cpu_mode.decide(tiny_gguf, setting="on").repack
    monkeypatch.setenv(cpu_mode.ENV_MODE, "off")
    assert cpu_mode.decide(tiny_gguf).source == "setting"
    monkeypatch.setenv(cpu_mode.ENV_MODE, "sometimes")
    with pytest.raises(ValueError, match="LEGAL_EDGE_CPU_REPACK"):
        cpu_mode.decide(tiny_gguf)
    assert not fresh_cache.exists()


def test_open_llama_loads_in_the_decided_mode(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp

    seen: list[bool] = []
    original = llama_cpp.llama_cpp.llama_model_load_from_file

    def spy(path: bytes, params: object) -> object:
        seen.append(bool(params.use_extra_bufts))  # type: ignore[attr-defined]
        return original(path, params)

    monkeypatch.setattr(llama_cpp.llama_cpp, "llama_model_load_from_file", spy)
    monkeypatch.setenv(cpu_mode.ENV_PROBE_FAULT, "SIGILL")
    llm = cpu_mode.open_llama(tiny_gguf, n_ctx=64)
    out = llm.create_completion("the court held", max_tokens=3, temperature=0)
    llm.close()
    assert seen == [False] and out["usage"]["completion_tokens"] >= 1
    # the defaults are restored for everyone else
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts


def test_llama_logs_go_through_python_logging_once(caplog: pytest.LogCaptureFixture) -> None:
    cpu_mode._log_state.update(verbose=False, seen={})
    with caplog.at_level(logging.DEBUG, logger="llama_cpp"):
        for layer in range(18):
            cpu_mode._emit(logging.WARNING, f"lora for 'blk.{layer}.attn_q' cannot use buft 'AMX'")
        cpu_mode._emit(logging.INFO, "llama_model_loader: loaded meta data")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "AMX" in warnings[0].getMessage()
    assert not any("loaded meta data" in r.getMessage() for r in caplog.records)


def test_check_cpu_command_reports_the_fallback(
    tiny_gguf: Path, tmp_path: Path, fresh_cache: Path
) -> None:
    env = {
        "LEGAL_EDGE_CACHE_DIR": str(tmp_path / "cache"),
        cpu_mode.ENV_PROBE_FAULT: "SIGILL",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "legal_edge.cli", "check-cpu", "--model", str(tiny_gguf), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["repack"] is False and "SIGILL" in result["reason"]


def test_server_falls_back_and_answers_with_one_log_line(tiny_gguf: Path, tmp_path: Path) -> None:
    """`legal-edge serve` as a process on a host where repacking "crashes": it says so once,
    turns ready after its own test decode, answers, and prints no llama.cpp chatter."""
    argv = [sys.executable, "-m", "legal_edge.cli", "serve", "--model", str(tiny_gguf)]
    env = {"LEGAL_EDGE_CACHE_DIR": str(tmp_path / "cache"), cpu_mode.ENV_PROBE_FAULT: "4"}
    with serve_process(argv, tmp_path / "serve.log", env=env, cwd=tmp_path) as served:
        r = httpx.post(
            served.url + "/v1/completions",
            json={"model": "tiny", "prompt": "the court held", "max_tokens": 4, "temperature": 0},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
    log = (tmp_path / "serve.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if "weight repacking" in line]
    assert len(lines) == 1 and "OFF" in lines[0] and "SIGILL" in lines[0], log[-2000:]
    for chatter in ("llama_model_loader", "load_tensors", "llama_context", "print_info"):
        assert chatter not in log, f"llama.cpp chatter on stderr: {chatter}"


def test_tests_and_recipes_need_no_llama_cpp_logger_setup() -> None:
    """The project never calls llama-cpp-python's own verbosity switch (it would re-open the
    stderr firehose that route_llama_log closes)."""
    offenders = [
        str(p.relative_to(REPO))
        for top in ("legal_edge", "recipes", "bench")
        for p in (REPO / top).rglob("*.py")
        if "_logger.set_verbose" in p.read_text(encoding="utf-8")
    ]
    assert not offenders
