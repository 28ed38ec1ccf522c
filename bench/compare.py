"""Peer benchmark: legal-edge vs llama-cpp-python's server vs llama.cpp's llama-server.

    .venv/bin/python bench/compare.py \
        --llama-server build/work/llama-server/cmake/bin/llama-server \
        [--model gemma3-270m] [--threads 2] [--concurrency 1,4,8] [--json-out bench.json]

``--servers`` names any of: ``llama-server`` (plain: no penalties, what a user starting it
by hand gets), ``llama-server+penalties`` (given the model manifest's repetition settings as
flags, the same sampling legal-edge applies by default), ``llama_cpp.server``, ``legal-edge``
and ``legal-edge-baseline`` (the same command run with ``--baseline-src DIR`` first on
PYTHONPATH: another checkout's code, for a before/after in one run). ``--reference`` is the one
the ratios are taken against.

Each server is started in turn on the same GGUF with the same thread count (8 slots where the
server has slots), measured with ``legal_edge.tools.bench.run_bench`` (streamed /v1/completions, the
prompt rendered client-side with Gemma's turn format so every server sees identical text;
greedy; legal questions from ../shared/legal-data), then stopped. Prints one table with the
ratio of legal-edge to llama-server. Build llama-server with ``bench/build_llama_server.sh``;
``python -m llama_cpp.server`` needs the ``bench`` extra.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

from legal_edge.fileio import atomic_write_json
from legal_edge.models.manifest import resolve_model
from legal_edge.models.merged_build import select_form
from legal_edge.tools.bench import format_table, load_prompts, run_bench

REPO = Path(__file__).resolve().parents[1]
SLOTS = 8
# Where each server says it has loaded the model (legal-edge answers /v1/models while loading).
READY_PATH = {
    "legal-edge": "/health/ready",
    "legal-edge-baseline": "/health/ready",
    "llama-server+penalties": "/health",
    "llama_cpp.server": "/v1/models",
    "llama-server": "/health",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(
    name: str,
    *,
    model: str,
    gguf: Path,
    port: int,
    threads: int,
    ctx: int,
    slots: int = SLOTS,
    llama_server: Path | None = None,
    python: str | Path | None = None,
    alias: str | None = None,
    jinja: bool = False,
    gpu_layers: str | None = None,
) -> list[str] | None:
    """The command line that serves ``gguf`` on ``port`` with ``slots`` sequences of ``ctx``
    tokens each, for legal-edge or one of its peers; ``None`` for llama-server without a binary.
    ``python`` runs ``llama_cpp.server`` (default: this interpreter); ``alias`` is the model name
    the peers answer to; ``jinja`` gives llama-server the GGUF's chat template (its tools need it);
    ``gpu_layers``: llama.cpp layers on the GPU (legal-edge ``--gpu-layers``, llama-server -ngl).
    """
    if name in ("legal-edge", "legal-edge-baseline"):
        script = Path(sys.executable).parent / "legal-edge"  # a host without a venv: the module
        exe = [str(script)] if script.is_file() else [sys.executable, "-m", "legal_edge.cli"]
        gpu = ["--gpu-layers", gpu_layers] if gpu_layers is not None else []
        return [*exe, "serve", "--model", model, "--port", str(port), *gpu] + [
            "--threads", str(threads), "--parallel", str(slots), "--ctx", str(ctx)
        ]  # fmt: skip
    if name == "llama_cpp.server":
        named = ["--model_alias", alias] if alias else []
        return [str(python or sys.executable), "-m", "llama_cpp.server", "--model", str(gguf)] + [
            *named, "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--n_ctx", str(ctx),
        ]  # fmt: skip
    if name in ("llama-server", "llama-server+penalties"):
        if llama_server is None:
            return None
        named = (["--alias", alias] if alias else []) + (["--jinja"] if jinja else [])
        named += ["-ngl", gpu_layers] if gpu_layers is not None else []
        return [str(llama_server), "-m", str(gguf), *named, "--host", "127.0.0.1"] + [
            "--port", str(port), "-t", str(threads), "-tb", str(threads), "-np", str(slots),
            "-c", str(ctx * slots),
        ]  # fmt: skip
    raise ValueError(name)


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds so far from a /proc stat file (a process's or one thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def penalty_flags(generation: dict[str, Any] | None) -> list[str]:
    """llama-server's flags for a manifest's ``generation`` repetition settings (what
    legal-edge applies to a request that does not set them)."""
    gen = generation or {}
    flags = {
        "repeat_penalty": "--repeat-penalty",
        "repeat_last_n": "--repeat-last-n",
        "frequency_penalty": "--frequency-penalty",
        "presence_penalty": "--presence-penalty",
        "dry_multiplier": "--dry-multiplier",
        "dry_base": "--dry-base",
        "dry_allowed_length": "--dry-allowed-length",
    }
    out: list[str] = []
    for key, flag in flags.items():
        if key in gen:
            out += [flag, str(gen[key])]
    return out


def ending_tokens(gguf: Path, stops: list[str]) -> list[int]:
    """The tokens that end an answer on one server or another: llama.cpp's end-of-generation
    tokens and the manifest's stop texts that are one token each (legal-edge stops on them)."""
    import llama_cpp  # the low-level API: read the vocabulary only

    from legal_edge.backends.llamacpp import cpu_mode

    llama_cpp.llama_backend_init()
    params = cpu_mode.model_params(repack=False)  # (no weights are read: nothing to repack)
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), params)
    if not model:
        raise click.ClickException(f"llama.cpp could not read the vocabulary of {gguf}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        n = llama_cpp.llama_vocab_n_tokens(vocab)
        ids = {t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)}
        for text in stops:
            data = text.encode()
            buf = (llama_cpp.llama_token * (len(data) + 2))()
            k = llama_cpp.llama_tokenize(vocab, data, len(data), buf, len(buf), False, True)
            if k == 1:
                ids.add(int(buf[0]))
    finally:
        llama_cpp.llama_model_free(model)
    return sorted(ids)


@contextlib.contextmanager
def running(
    cmd: list[str],
    port: int,
    ready_path: str,
    log: Path,
    timeout: float = 300.0,
    env: dict[str, str] | None = None,
) -> Iterator[Any]:
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} not ready after {timeout:.0f} s; see {log}")
            time.sleep(0.5)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def median_levels(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One level per client count from several rounds of the same server: the round with the
    median tokens/s (the lower middle of an even count), so every figure beside it was measured
    together; with the range of tokens/s over the rounds and every round's errors and
    unfinished streams added up (a failure in any round shows)."""
    out = []
    for i, level in enumerate(rounds[0]):
        same = sorted((r[i] for r in rounds), key=lambda lv: lv["aggregate_tokens_per_s"])
        mid = dict(same[(len(same) - 1) // 2])
        mid["tokens_per_s_range"] = [
            same[0]["aggregate_tokens_per_s"],
            same[-1]["aggregate_tokens_per_s"],
        ]
        mid["errors"] = sum(lv["errors"] for lv in same)
        mid["incomplete"] = sum(lv["incomplete"] for lv in same)
        mid["rounds"] = len(same)
        assert all(lv["concurrency"] == level["concurrency"] for lv in same)
        out.append(mid)
    return out


def comparison_table(results: dict[str, dict[str, Any]], reference: str = "llama-server") -> str:
    names = list(results)
    head = (
        f"{'server':<18} {'clients':>7} {'tok/s':>7} {'vs ref':>7} {'ttft p95 ms':>11} "
        f"{'e2e p95 ms':>10} {'itl p50 ms':>10} {'err':>4} {'incompl':>7} {'tokens':>11} "
        f"{'peak RSS MB':>11} {'tok/cpu-s':>9} {'tok/s range':>13}"
    )
    lines = [head, "-" * len(head)]
    ref = results.get(reference)
    for name in names:
        res = results[name]
        for lv in res["levels"]:
            ref_lv = (
                next((x for x in ref["levels"] if x["concurrency"] == lv["concurrency"]), None)
                if ref
                else None
            )
            ref_tps = ref_lv["aggregate_tokens_per_s"] if ref_lv else None
            tt, e2e, itl = lv["ttft_s"]["p95"], lv["latency_s"]["p95"], lv["itl_s"]["p50"]
            cpu = lv.get("server_cpu_s")
            per_cpu = lv["completion_tokens"] / cpu if cpu else 0.0
            lines.append(
                f"{name:<18} {lv['concurrency']:>7} {lv['aggregate_tokens_per_s']:>7.1f} "
                f"{ratio(lv['aggregate_tokens_per_s'], ref_tps):>7} "
                f"{'-' if tt is None else f'{tt * 1000:.0f}':>11} "
                f"{'-' if e2e is None else f'{e2e * 1000:.0f}':>10} "
                f"{'-' if itl is None else f'{itl * 1000:.1f}':>10} "
                f"{lv['errors']:>4} {lv['incomplete']:>7} "
                f"{lv['completion_tokens']:>5}/{lv['requested_tokens']:<5} "
                f"{res.get('peak_rss_mb') or 0:>11.0f} {per_cpu:>9.1f} "
                f"{_range(lv.get('tokens_per_s_range')):>13}"
            )
    return "\n".join(lines)


def measure(
    name: str,
    *,
    model: str,
    gguf: Path,
    threads: int,
    ctx: int,
    llama_server: Path | None,
    slots: int,
    gpu_layers: str | None,
    manifest: Any,
    baseline_src: Path | None,
    log_dir: Path,
    concurrency: list[int],
    requests: int,
    max_tokens: int,
    prompts: list[str],
    extra: dict[str, Any],
) -> dict[str, Any] | None:
    """Start server ``name``, run each client count on it, stop it: its levels, peak memory and
    command line; None for llama-server without a binary."""
    port = free_port()
    cmd = server_command(
        name, model=model, gguf=gguf, port=port, threads=threads, ctx=ctx,
        llama_server=llama_server, slots=slots, gpu_layers=gpu_layers,
    )  # fmt: skip
    if cmd is None:
        print(f"skipping {name}: no binary given", file=sys.stderr)
        return None
    env = {}
    if name == "llama-server+penalties":
        cmd += penalty_flags(manifest.generation)
    if name == "legal-edge-baseline":
        if baseline_src is None:
            raise click.UsageError("legal-edge-baseline needs --baseline-src")
        env["PYTHONPATH"] = str(baseline_src.resolve())
    print(f"== {name}: {' '.join(cmd)} {env or ''}", file=sys.stderr, flush=True)
    log = log_dir / f"compare-{name}.log"
    with running(cmd, port, READY_PATH[name], log, env=env) as (proc, url):
        res: dict[str, Any] = {"levels": []}
        for i, c in enumerate(concurrency):  # one level at a time: the server's CPU per level
            cpu0 = cpu_seconds(proc.pid)
            part = run_bench(url, concurrency=[c], requests=requests, max_tokens=max_tokens,
                             prompts=prompts, endpoint="completions", template="gemma",
                             warmup=i == 0, extra=extra)  # fmt: skip
            level = part["levels"][0]
            level["server_cpu_s"] = cpu_seconds(proc.pid) - cpu0
            res["config"] = part["config"]
            res["levels"].append(level)
        res["peak_rss_mb"] = peak_rss_mb(proc.pid)
        res["command"] = cmd
        res["env"] = env
    print(format_table(res), file=sys.stderr, flush=True)
    return res


def _range(span: list[float] | None) -> str:
    return "-" if not span else f"{span[0]:.1f}-{span[1]:.1f}"


@click.command(help=__doc__)
@click.option(
    "--model", default="gemma3-270m", show_default=True, help="model name, directory or GGUF"
)
@click.option(
    "--llama-server", type=click.Path(path_type=Path), default=None, help="llama-server binary"
)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--ctx", type=int, default=4096, show_default=True, help="context per sequence")
@click.option("--concurrency", default="1,4,8", show_default=True)
@click.option("--requests", type=int, default=4, show_default=True, help="requests per client")
@click.option("--max-tokens", type=int, default=64, show_default=True)
@click.option("--servers", default="llama-server,llama_cpp.server,legal-edge", show_default=True)
@click.option("--slots", type=int, default=SLOTS, show_default=True, help="sequences per server")
@click.option(
    "--gpu-layers", default=None, help="llama.cpp layers on the GPU, the same for every server"
)
@click.option("--reference", default="llama-server", show_default=True)
@click.option(
    "--baseline-src",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="checkout whose legal_edge the legal-edge-baseline server runs",
)
@click.option(
    "--full-length/--natural-length",
    default=False,
    show_default=True,
    help="full length: every answer runs to --max-tokens (the tokens that end an answer get "
    "logit_bias -100 on every server), so each server does the same work whatever it answers",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="run every server this many times, the order reversed every other round (a 2-core "
    "host drifts by +-15 % within minutes); each level reports its median round",
)
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("/tmp"), show_default=True)
def main(
    model: str,
    llama_server: Path | None,
    threads: int,
    ctx: int,
    concurrency: str,
    requests: int,
    max_tokens: int,
    servers: str,
    slots: int,
    gpu_layers: str | None,
    reference: str,
    baseline_src: Path | None,
    full_length: bool,
    rounds: int,
    json_out: Path | None,
    log_dir: Path,
) -> None:
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the server being measured is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    # the form legal-edge serves by default (the merged GGUF where one is built), so every
    # server reads the same file
    manifest = select_form(resolve_model(model, REPO / "models"))
    gguf = manifest.model_path
    # the workload of the dated peer runs: the shared legal Q&A questions
    prompts = load_prompts(
        REPO.parent / "shared" / "legal-data" / "qa" / "lawyer_llama_single_turn.jsonl"
    )
    conc = [int(c) for c in concurrency.split(",")]
    extra: dict[str, Any] = {}
    if full_length:
        extra["logit_bias"] = {str(t): -100 for t in ending_tokens(gguf, list(manifest.stop))}
    names = servers.split(",")
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            res = measure(name, model=model, gguf=gguf, threads=threads, ctx=ctx,
                          llama_server=llama_server, slots=slots, gpu_layers=gpu_layers,
                          manifest=manifest, baseline_src=baseline_src, log_dir=log_dir,
                          concurrency=conc, requests=requests, max_tokens=max_tokens,
                          prompts=prompts, extra=extra)  # fmt: skip
            if res is not None:
                runs.setdefault(name, []).append(res)
    results: dict[str, dict[str, Any]] = {}
    for name, done in runs.items():
        results[name] = {
            **done[0],
            "levels": median_levels([res["levels"] for res in done]),
            "peak_rss_mb": max(res["peak_rss_mb"] or 0 for res in done),
            "rounds": done,
        }
    table = comparison_table(results, reference)
    print(table)
    if json_out:
        load = os.getloadavg()
        atomic_write_json(
            json_out,
            {
                "servers": results,
                "table": table,
                "gguf": str(gguf),
                "threads": threads,
                "slots": slots,
                "gpu_layers": gpu_layers,
                "full_length": full_length,
                "rounds": rounds,
                "loadavg_after": load,
            },
        )
        print(json.dumps({"wrote": str(json_out)}))


if __name__ == "__main__":
    main()
