"""Where a served token's time goes: py-spy on a running ``legal-edge serve`` under load.

    .venv/bin/python bench/token_profile.py [--model legal-gemma3-270m] [--concurrency 1,8] \
        [--py-spy PATH] [--json-out FILE]   # py-spy: the dev extra

Starts the server (the model's manifest sampling applies: greedy requests get its penalties),
and for each client count runs ``legal_edge.tools.bench`` (streamed /v1/completions, 64 tokens)
while ``py-spy record --native --threads`` samples every thread of the server. Each sample of
the engine thread (``llamacpp-engine``) and of the event-loop thread (``MainThread``) is put in
one stage by the innermost frame that names one (see ``STAGES``); the table gives each stage's
share of the thread's samples and its milliseconds per generated token (samples / rate /
tokens). ggml's helper thread (the second compute thread) is counted apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # run as a file: siblings and legal_edge import

from compare import READY_PATH, free_port, running, server_command  # noqa: E402

from legal_edge.fileio import atomic_write_json  # noqa: E402
from legal_edge.models.manifest import resolve_model  # noqa: E402
from legal_edge.tools.bench import load_prompts, run_bench  # noqa: E402

# Per thread, (stage, substrings of a frame), in order: a sample belongs to the first stage one
# of whose substrings occurs in any of its frames.
STAGES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "engine": [
        ("decode (llama_decode)", ("llama_decode",)),
        ("sampler setup per request (DRY breakers)", ("_make_chain", "make (", "init_dry")),
        ("grammar", ("grammar", "Grammar")),
        ("sampling (llama.cpp chain / picker)", ("llama_sampler_", "pick (", "adjust (")),
        ("logits row (view, end bias, argmax)", ("as_array", "get_logits", "_end_ids", "argmax")),
        ("detokenize (piece, UTF-8)", ("piece (", "codecs")),
        ("hand-off to the event loop", ("deliver", "call_soon_threadsafe")),
        ("idle (no request)", ("Condition.wait",)),
        ("engine Python (batch, bookkeeping)", ("Engine.",)),
    ],
    "event loop": [
        ("idle (epoll)", ("epoll_wait", "select_epoll")),
        ("blocked on the engine's lock (submit)", ("Engine.submit",)),
        ("SSE framing + JSON (server)", ("legal_edge/server",)),
        ("backend queue (generate)", ("llamacpp/backend.py",)),
        ("HTTP (litestar / uvicorn / h11)", ("litestar", "uvicorn", "h11", "anyio")),
        ("asyncio", ("asyncio", "_asynciomodule", "heapq")),
    ],
}


def thread_of(head: str) -> str:
    if "llamacpp-engine" in head:
        return "engine"
    if "MainThread" in head:
        return "event loop"
    return "other threads"


def stage_of(thread: str, frames: list[str]) -> str:
    for stage, keys in STAGES.get(thread, []):
        if any(k in f for f in frames for k in keys):
            return stage
    return "other"


def parse(raw: Path) -> dict[str, Counter[str]]:
    """py-spy's raw (collapsed) output: ``thread;frame;...;frame count`` per line."""
    per: dict[str, Counter[str]] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = thread_of(frames[0])
        per.setdefault(thread, Counter())[stage_of(thread, frames[1:])] += int(count)
    return per


def table(per: dict[str, Counter[str]], rate: int, tokens: int) -> str:
    lines = [
        "| thread | stage | samples | share of thread | ms per token |",
        "|---|---|---|---|---|",
    ]
    for thread in ("engine", "event loop", "other threads"):
        counts = per.get(thread, Counter())
        total = sum(counts.values()) or 1
        for stage, n in counts.most_common():
            ms = n / rate / max(tokens, 1) * 1000
            lines.append(f"| {thread} | {stage} | {n} | {n / total:.1%} | {ms:.2f} |")
    return "\n".join(lines)


def _ms(fn: Callable[[], object], reps: int) -> float:
    """CPU milliseconds of this thread per call (steadier than wall time on a busy box)."""
    fn()
    t0 = time.thread_time()
    for _ in range(reps):
        fn()
    return (time.thread_time() - t0) / reps * 1000


def sampler_stage_costs(gguf: Path, window: int = 64, reps: int = 200) -> dict[str, float]:
    """Milliseconds of each sampling stage for one token on ``gguf``'s vocabulary (manifest
    penalties: repeat 1.1 over 64, DRY 0.8/1.75/2), the whole-vocabulary chain against the
    picker, in this process (no server), in CPU time of the calling thread."""
    import ctypes

    import llama_cpp
    import numpy as np

    from legal_edge.backends.base import SamplingParams
    from legal_edge.backends.llamacpp import cpu_mode
    from legal_edge.backends.llamacpp.picker import (
        DRY_BREAKERS,
        Samplers,
        candidates,
        token_data_array,
    )

    llama_cpp.llama_backend_init()
    cpu_mode.route_llama_log(verbose=False)
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), cpu_mode.model_params(False))
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    rng = np.random.default_rng(0)
    row = rng.standard_normal(n_vocab).astype(np.float32)
    answer = [int(t) for t in rng.integers(0, n_vocab, window)]
    breakers = (ctypes.c_char_p * len(DRY_BREAKERS))(*DRY_BREAKERS)
    dry = llama_cpp.llama_sampler_init_dry(vocab, 0.8, 1.75, 2, 64, breakers, len(breakers))
    stages = {
        "penalties": llama_cpp.llama_sampler_init_penalties(n_vocab, 64, 1.1, 0.0, 0.0),
        "DRY": llama_cpp.llama_sampler_clone(dry),
        "greedy": llama_cpp.llama_sampler_init_greedy(),
    }
    for sampler in stages.values():
        for t in answer:
            llama_cpp.llama_sampler_accept(sampler, t)
    ids = np.arange(n_vocab, dtype=np.int32)
    data = candidates(ids, row)
    out: dict[str, float] = {"vocabulary": float(n_vocab)}
    out["DRY sampler made (reads every token's text), per request"] = _ms(
        lambda: llama_cpp.llama_sampler_free(
            llama_cpp.llama_sampler_init_dry(vocab, 0.8, 1.75, 2, 64, breakers, 4)
        ),
        3,
    )
    out["DRY sampler cloned from one made once, per request"] = _ms(
        lambda: llama_cpp.llama_sampler_free(llama_cpp.llama_sampler_clone(dry)), reps
    )
    out["candidate array filled (whole vocabulary)"] = _ms(lambda: candidates(ids, row), reps)
    for name, sampler in stages.items():

        def apply(sampler: object = sampler) -> None:
            work = data.copy()
            arr = token_data_array(work)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))

        copy = _ms(lambda: data.copy(), reps)
        out[f"{name} over the whole vocabulary"] = max(0.0, _ms(apply, reps) - copy)
    params = SamplingParams(
        temperature=0.0, max_tokens=64, repeat_penalty=1.1, repeat_last_n=64, dry_multiplier=0.8
    )
    samplers = Samplers(vocab, n_vocab, lambda t: b"")
    picker = samplers.make(params, 0)
    assert picker is not None
    for t in answer:
        picker.accept(t)
    work = row.copy()
    out["picker: penalties + DRY on the answer's tokens"] = _ms(lambda: picker.adjust(work), reps)
    out["picker: arg-max of the row (numpy)"] = _ms(lambda: work.argmax(), reps)
    picker.free()
    samplers.close()
    for sampler in [*stages.values(), dry]:
        llama_cpp.llama_sampler_free(sampler)
    llama_cpp.llama_model_free(model)
    return out


@click.command(help=__doc__)
@click.option("--model", default="legal-gemma3-270m", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--concurrency", default="1,8", show_default=True)
@click.option("--requests", type=int, default=4, show_default=True, help="requests per client")
@click.option("--max-tokens", type=int, default=64, show_default=True)
@click.option("--rate", type=int, default=25, show_default=True, help="py-spy samples/s")
@click.option("--py-spy", "py_spy", default="py-spy", show_default=True)
@click.option("--stages/--no-stages", default=True, help="time each sampler stage too")
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("/tmp"))
def main(
    model: str,
    threads: int,
    concurrency: str,
    requests: int,
    max_tokens: int,
    rate: int,
    py_spy: str,
    stages: bool,
    json_out: Path | None,
    log_dir: Path,
) -> None:
    prompts = load_prompts(
        REPO.parent / "shared" / "legal-data" / "qa" / "lawyer_llama_single_turn.jsonl"
    )
    port = free_port()
    cmd = server_command(
        "legal-edge", model=model, gguf=Path(), port=port, threads=threads, ctx=4096
    )
    assert cmd is not None
    report: dict[str, Any] = {"command": cmd, "rate": rate, "levels": []}
    if stages:
        gguf = resolve_model(model, REPO / "models").model_path
        report["stage_ms"] = sampler_stage_costs(gguf)
        print("| stage | ms |\n|---|---|", flush=True)
        for name, ms in report["stage_ms"].items():
            print(f"| {name} | {ms:.3f} |", flush=True)
    log = log_dir / "token-profile-server.log"
    with running(cmd, port, READY_PATH["legal-edge"], log) as (proc, url):
        for c in (int(x) for x in concurrency.split(",")):
            # one short warm-up so that the first request's one-off costs stay out
            run_bench(url, concurrency=[1], requests=1, max_tokens=8, prompts=prompts,
                      endpoint="completions", template="gemma", warmup=False)  # fmt: skip
            raw = log_dir / f"token-profile-{c}.txt"
            spy = subprocess.Popen(
                [py_spy, "record", "--native", "--threads", "--idle",
                 "--rate", str(rate), "--format", "raw", "-o", str(raw), "--pid", str(proc.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.0)
            t0 = time.monotonic()
            res = run_bench(url, concurrency=[c], requests=requests, max_tokens=max_tokens,
                            prompts=prompts, endpoint="completions", template="gemma",
                            warmup=False)  # fmt: skip
            wall = time.monotonic() - t0
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            _, err = spy.communicate(timeout=60)
            if not raw.is_file():
                raise click.ClickException(f"py-spy wrote nothing: {err.strip()[-500:]}")
            level = res["levels"][0]
            tokens = int(level["completion_tokens"])
            per = parse(raw)
            text = table(per, rate, tokens)
            print(f"\n## {c} client(s): {tokens} tokens in {wall:.1f} s, "
                  f"{level['aggregate_tokens_per_s']:.1f} tok/s\n\n{text}", flush=True)  # fmt: skip
            report["levels"].append({
                "concurrency": c, "tokens": tokens, "wall_s": wall, "bench": level,
                "samples": {t: dict(cnt) for t, cnt in per.items()}, "table": text,
            })  # fmt: skip
    if json_out:
        atomic_write_json(json_out, report)
        print(json.dumps({"wrote": str(json_out)}))


if __name__ == "__main__":
    main()
