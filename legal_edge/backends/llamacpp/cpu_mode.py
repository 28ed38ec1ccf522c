"""How llama.cpp runs on this CPU: with weight repacking or without, decided by a probe.

llama.cpp's CPU backend "repacks" quantized weights into layouts for the host's widest
instructions (its "extra buffer types": AVX2/AVX-512 interleaved blocks, AMX tiles). On some
hosts the native build turns on a path the CPU or the kernel cannot run: Intel Xeons that report
AMX die with SIGILL on ``tilezero`` at the first decode, taking the whole process with them.
Loading with ``use_extra_bufts = False`` (llama-server's ``--no-repack``) runs the plain kernels.

So before a process relies on repacking, a child process loads the same kind of model with it
and decodes a few tokens. If the child dies (a signal, a hang, an error), this process loads
without repacking and says so in one log line. The verdict is cached per llama.cpp build, CPU
and set of tensor types (what picks the repacked kernels), so later starts do not probe again.
``cpu_repack: on|off`` (or ``LEGAL_EDGE_CPU_REPACK``) skips the probe and forces a mode.

Everything in the project that loads a GGUF goes through ``model_params`` (low-level API) or
``open_llama`` (llama-cpp-python's ``Llama``); a test checks that nothing else does.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json
from legal_edge.models.gguf_metadata import GGUFError, read_gguf_tensor_types

log = logging.getLogger("legal_edge.llama")

MODES = ("auto", "on", "off")
ENV_MODE = "LEGAL_EDGE_CPU_REPACK"
ENV_CACHE_DIR = "LEGAL_EDGE_CACHE_DIR"
# Drill hook: a probe child that would repack kills itself with this signal (name or number)
# before its first decode, as an AMX host does. Tests use it to prove the fallback everywhere.
ENV_PROBE_FAULT = "LEGAL_EDGE_PROBE_FAULT"
# Loading a 7B model with repacking reads (and rewrites) every weight: allow for a slow disk.
PROBE_TIMEOUT_S = 300.0
_PROBE_TEXT = "中华人民共和国民法典第一百四十三条规定，具备下列条件的民事法律行为有效。"


@dataclass(frozen=True)
class CpuMode:
    """The verdict for one model on this host: repack or not, and the one-line reason."""

    repack: bool
    reason: str
    source: str  # "setting" | "cache" | "probe"


class ProbeFailed(RuntimeError):
    pass


# -- identity of what the verdict depends on ---------------------------------------------------


@functools.lru_cache(maxsize=1)
def cpu_identity() -> str:
    """CPU model and instruction-set flags (``/proc/cpuinfo``'s first processor)."""
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = " ".join(sorted(value.split()))
            if model and flags:
                break
    except OSError:
        pass
    import platform

    return f"{platform.machine()}|{model}|{flags}"


@functools.lru_cache(maxsize=1)
def llama_build_identity() -> str:
    """The llama.cpp shared libraries this process loads (names, sizes, modification times)."""
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    parts = [getattr(llama_cpp, "__version__", "?")]
    if lib_dir.is_dir():
        for p in sorted(lib_dir.iterdir()):
            st = p.stat()
            parts.append(f"{p.name}:{st.st_size}:{int(st.st_mtime)}")
    return "|".join(parts)


def cache_key(model_path: Path, adapter: bool) -> str:
    try:
        st = Path(model_path).stat()
        types = _tensor_types(str(Path(model_path).resolve()), st.st_size, st.st_mtime_ns)
    except (OSError, GGUFError):
        types = f"unreadable:{model_path}"
    raw = f"{llama_build_identity()}\n{cpu_identity()}\n{types}\nadapter={adapter}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=64)
def _tensor_types(path: str, size: int, mtime_ns: int) -> str:
    """The model's tensor types, read once per file version (the header holds the whole
    vocabulary: a second load of the same file should not read it again)."""
    return ",".join(sorted(set(read_gguf_tensor_types(path).values())))


def cache_path() -> Path:
    base = os.environ.get(ENV_CACHE_DIR)
    if base:
        return Path(base) / "cpu-modes.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "legal-edge" / "cpu-modes.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, mode: CpuMode) -> None:
    data = _read_cache()
    data[key] = {"repack": mode.repack, "reason": mode.reason, "checked": time.time()}
    try:
        atomic_write_json(cache_path(), data)
    except OSError as exc:  # a read-only home under systemd: probe again next start
        log.debug("cannot cache the llama.cpp CPU mode in %s: %s", cache_path(), exc)


# -- the decision -------------------------------------------------------------------------------

_decided: dict[tuple[str, str], CpuMode] = {}
_decide_lock = threading.Lock()


def setting_from_env(default: str = "auto") -> str:
    value = os.environ.get(ENV_MODE, default).strip().lower() or default
    if value not in MODES:
        raise ValueError(f"{ENV_MODE}: {value!r} is not one of {', '.join(MODES)}")
    return value


def decide(
    model_path: Path | str,
    adapter_path: Path | str | None = None,
    setting: str | None = None,
    *,
    use_cache: bool = True,
) -> CpuMode:
    """Whether to load ``model_path`` with weight repacking on this host (see module doc)."""
    setting = setting_from_env() if setting in (None, "") else str(setting).lower()
    if setting not in MODES:
        raise ValueError(f"cpu_repack: {setting!r} is not one of {', '.join(MODES)}")
    if setting != "auto":
        return CpuMode(setting == "on", f"cpu_repack: {setting} (set, not probed)", "setting")
    model_path = Path(model_path)
    key = cache_key(model_path, adapter_path is not None)
    with _decide_lock:
        if use_cache and (key, "auto") in _decided:
            return _decided[(key, "auto")]
        cached = _read_cache().get(key) if use_cache else None
        if isinstance(cached, dict) and isinstance(cached.get("repack"), bool):
            mode = CpuMode(cached["repack"], str(cached.get("reason", "")), "cache")
        else:
            mode = probe(model_path, adapter_path)
            _write_cache(key, mode)
        _decided[(key, "auto")] = mode
    return mode


def describe(mode: CpuMode) -> str:
    state = "on" if mode.repack else "OFF"
    how = {"cache": " (cached verdict)", "probe": "", "setting": ""}[mode.source]
    return f"llama.cpp weight repacking {state}: {mode.reason}{how}"


# -- the probe ----------------------------------------------------------------------------------


def self_command() -> list[str]:
    """How to run this program's CLI again (the PyInstaller binary is its own interpreter)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "legal_edge.cli"]


def measure(
    model_path: Path,
    adapter_path: Path | str | None = None,
    *,
    repack: bool = True,
    timeout_s: float = PROBE_TIMEOUT_S,
    workload: str = "quick",
) -> dict[str, float]:
    """Run a test decode in a child process with repacking ``repack``; its tokens/s.

    Raises ``ProbeFailed`` naming what went wrong (a signal, a hang, an error).
    """
    cmd = [*self_command(), "check-cpu", "--child", "--model", str(model_path)]
    cmd += ["--repack", "on" if repack else "off", "--workload", workload]
    if adapter_path is not None:
        cmd += ["--adapter", str(adapter_path)]
    what = "a test decode with repacked weights" if repack else "a test decode"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"{what} hung for {timeout_s:.0f} s") from None
    except OSError as exc:
        raise ProbeFailed(f"could not start {what} ({exc})") from None
    if proc.returncode < 0:
        raise ProbeFailed(
            f"{what} died with {_signal_name(-proc.returncode)} (an instruction this CPU "
            "cannot run, e.g. AMX)"
        )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ProbeFailed(f"{what} failed ({tail[0][:200]})")
    return parse_probe_output(proc.stdout)


def probe(model_path: Path, adapter_path: Path | str | None = None) -> CpuMode:
    """Repack if a test decode with repacking survives in a child process, else plain kernels."""
    try:
        stats = measure(model_path, adapter_path, repack=True)
    except ProbeFailed as exc:
        return CpuMode(False, f"{exc}; using llama.cpp's plain CPU kernels", "probe")
    return CpuMode(
        True,
        f"a test decode with repacked weights succeeded ({stats['decode_tps']:.0f} tokens/s)",
        "probe",
    )


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def parse_probe_output(stdout: str) -> dict[str, float]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            data = json.loads(line)
            return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}
    raise ProbeFailed(f"the probe printed no result: {stdout[-200:]!r}")


def run_test_decode(
    model_path: Path, adapter_path: Path | None, repack: bool, workload: str = "quick"
) -> dict[str, float]:
    """Load with ``repack`` and decode (in this process): prompt and decode tokens/s.

    ``quick``: a 1-sentence prompt and 4 tokens (enough to reach every kernel); ``bench``:
    a 256-token prompt and 64 decoded tokens, for the cost of the fallback.
    """
    import llama_cpp

    route_llama_log(verbose=False)
    llama_cpp.llama_backend_init()
    mparams = model_params(repack)
    t0 = time.perf_counter()
    model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
    if not model:
        raise ProbeFailed(f"llama.cpp could not load {model_path}")
    load_s = time.perf_counter() - t0
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_prompt, n_decode = (256, 64) if workload == "bench" else (24, 4)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = n_prompt + n_decode + 16
    cparams.n_batch = cparams.n_ubatch = n_prompt
    # as many threads as the server uses (llama.cpp's default of 4 oversubscribes small hosts)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    cparams.n_threads = cparams.n_threads_batch = max(1, threads)
    cparams.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        raise ProbeFailed("llama.cpp could not create a context")
    try:
        if adapter_path is not None:
            apply_lora(model, ctx, Path(adapter_path))
        text = (_PROBE_TEXT * (n_prompt // 8 + 1)).encode()
        buf = (llama_cpp.llama_token * (len(text) + 8))()
        n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, len(text) + 8, True, True)
        tokens = list(buf[: min(n, n_prompt)])
        fault = os.environ.get(ENV_PROBE_FAULT)
        if fault and repack:
            sig = int(fault) if fault.isdigit() else int(getattr(signal, fault.upper()))
            os.kill(os.getpid(), sig)
        t0 = time.perf_counter()
        ids = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(ids, len(tokens))) != 0:
            raise ProbeFailed("llama_decode failed on the prompt")
        prompt_s = time.perf_counter() - t0
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        t0 = time.perf_counter()
        for _ in range(n_decode):
            token = _argmax(llama_cpp.llama_get_logits_ith(ctx, -1), n_vocab)
            one = (llama_cpp.llama_token * 1)(token)
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) != 0:
                raise ProbeFailed("llama_decode failed on a generated token")
        decode_s = time.perf_counter() - t0
    finally:
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
    return {
        "load_s": round(load_s, 3),
        "prompt_tokens": len(tokens),
        "prompt_tps": round(len(tokens) / max(prompt_s, 1e-9), 1),
        "decode_tokens": n_decode,
        "decode_tps": round(n_decode / max(decode_s, 1e-9), 1),
    }


def _argmax(logits: Any, n_vocab: int) -> int:
    import numpy as np

    return int(np.ctypeslib.as_array(logits, shape=(n_vocab,)).argmax())


# -- loading ------------------------------------------------------------------------------------


def model_params(repack: bool, n_gpu_layers: int = 0) -> Any:
    """``llama_model_params`` with llama.cpp's defaults, repacking as decided and
    ``n_gpu_layers`` layers on a GPU (0 unless the caller decided an offload: llama.cpp's own
    default puts every layer on the GPU of a GPU build, and a CPU probe must test the CPU)."""
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    params.use_extra_bufts = repack
    params.n_gpu_layers = n_gpu_layers
    return params


def apply_lora(model: Any, ctx: Any, adapter_path: Path, scale: float = 1.0) -> Any:
    """Load a llama.cpp LoRA GGUF and apply it to ``ctx``; returns the adapter handle."""
    import llama_cpp

    adapter = llama_cpp.llama_adapter_lora_init(model, str(adapter_path).encode())
    if not adapter:
        raise ProbeFailed(f"llama.cpp could not load the LoRA adapter {adapter_path}")
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(scale)
    if llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
        llama_cpp.llama_adapter_lora_free(adapter)
        raise ProbeFailed(f"llama.cpp could not apply the LoRA adapter {adapter_path}")
    return adapter


_open_lock = threading.Lock()


def open_llama(model_path: Path | str, *, cpu_repack: str | None = None, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, **kwargs)`` in the mode this host can run.

    The high-level class builds its model params from ``llama_model_default_params()`` and has
    no keyword for repacking, so the defaults are wrapped for the duration of the call (under a
    lock; every loader in the project comes through here).
    """
    import llama_cpp
    import llama_cpp.llama as high_level

    route_llama_log(verbose=bool(kwargs.get("verbose", False)))
    kwargs.setdefault("verbose", False)
    if kwargs.get("vocab_only"):
        repack = False  # no weights are loaded, nothing is decoded
    else:
        repack = decide(model_path, kwargs.get("lora_path"), cpu_repack).repack
    lowlevel = high_level.llama_cpp
    with _open_lock:
        original = lowlevel.llama_model_default_params

        def defaults() -> Any:
            params = original()
            params.use_extra_bufts = repack
            return params

        lowlevel.llama_model_default_params = defaults
        try:
            llm = llama_cpp.Llama(model_path=str(model_path), **kwargs)
        finally:
            lowlevel.llama_model_default_params = original
    return llm


# -- llama.cpp's log through Python logging -----------------------------------------------------

# enum ggml_log_level (ggml.h): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues
# the previous message). llama-cpp-python's own table predates this numbering.
_GGML_LEVELS = {
    0: logging.INFO,
    1: logging.DEBUG,
    2: logging.INFO,
    3: logging.WARNING,
    4: logging.ERROR,
}
_llama_log = logging.getLogger("llama_cpp")
_log_state: dict[str, Any] = {"verbose": False, "partial": "", "level": logging.INFO, "seen": {}}
_log_callback: Callable[..., None] | None = None  # kept alive: llama.cpp holds the pointer


def _emit(level: int, text: str) -> None:
    if not text.strip():
        return
    if level < logging.WARNING and not _log_state["verbose"]:
        return
    # The same warning for every layer ("lora for 'blk.7...' cannot use buft ...") once, then
    # a count at debug level: a start stays readable.
    shape = re.sub(r"\d+", "N", text)
    seen: dict[str, int] = _log_state["seen"]
    seen[shape] = seen.get(shape, 0) + 1
    if seen[shape] == 1 or _log_state["verbose"]:
        _llama_log.log(level, "%s", text.rstrip())
    elif seen[shape] in (2, 10, 100, 1000):
        _llama_log.debug("(%d times so far) %s", seen[shape], text.rstrip())


def route_llama_log(verbose: bool = False) -> None:
    """Send llama.cpp's own log lines to the ``llama_cpp`` logger: warnings and errors only,
    each repeated message once, unless ``verbose``."""
    global _log_callback
    import llama_cpp

    _log_state["verbose"] = verbose

    def callback(level: int, text: bytes, _user: Any) -> None:
        try:
            piece = text.decode("utf-8", errors="replace")
            if level == 5:  # GGML_LOG_LEVEL_CONT: continues the previous line
                level_py = _log_state["level"]
            else:
                level_py = _GGML_LEVELS.get(level, logging.INFO)
                _log_state["level"] = level_py
            buf = _log_state["partial"] + piece
            *lines, rest = buf.split("\n")
            _log_state["partial"] = rest
            for line in lines:
                _emit(level_py, line)
        except Exception:  # never raise into C
            pass

    if _log_callback is None:
        _log_callback = llama_cpp.llama_log_callback(callback)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
