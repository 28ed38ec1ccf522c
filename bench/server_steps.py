"""Where a served token's time goes, from the server's side: CPU per thread and every
``llama_decode`` step of a running ``legal-edge serve`` under the peer benchmark's load.

    .venv/bin/python bench/server_steps.py [--model legal-gemma3-270m] [--concurrency 1,8] \
        [--requests 4] [--json-out FILE]

Starts the server with ``bench/decode_trace`` first on PYTHONPATH (it times each step and
records its batch), runs the streamed full-length completions of ``bench/compare.py`` at each
client count, and prints per level: the CPU seconds of the event loop (the main thread), of the
two compute threads (the engine thread and ggml's OpenMP worker) and of the rest; the time inside
``llama_decode`` split into decode-only steps (by sequences per step) and steps that read
prompts; and the time between steps (the engine's own Python, sampling, and idle waits).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # run as a file: siblings and legal_edge import

from compare import (  # noqa: E402
    ending_tokens,
    free_port,
    running,
    server_command,
    stat_cpu_seconds,
)

from legal_edge.fileio import atomic_write_json  # noqa: E402
from legal_edge.models.manifest import resolve_model  # noqa: E402
from legal_edge.models.merged_build import select_form  # noqa: E402
from legal_edge.tools.bench import load_prompts, run_bench  # noqa: E402


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(tid)] = stat_cpu_seconds(Path(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:  # the thread ended
            continue
    return out


def recorded_steps(pid: int, trace: Path, timeout: float = 30.0) -> list[list[Any]]:
    """Have the server write the steps recorded since the last call (SIGUSR1) and read them:
    the file is removed first and appears whole (written aside, then renamed)."""
    trace.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not trace.exists():
        if time.monotonic() > deadline:
            raise click.ClickException(f"the server wrote no decode trace to {trace}")
        time.sleep(0.05)
    steps: list[list[Any]] = json.loads(trace.read_text())
    return steps


def cpu_split(pid: int, before: dict[int, float], after: dict[int, float]) -> dict[str, Any]:
    used = {t: after[t] - before.get(t, 0.0) for t in after}
    main = used.pop(pid, 0.0)
    busiest = sorted(used.values(), reverse=True)
    return {
        "event_loop_s": main,
        "compute_threads_s": sum(busiest[:2]),
        "compute_threads_each_s": busiest[:2],
        "other_threads_s": sum(busiest[2:]),
    }


def step_summary(steps: list[list[Any]]) -> dict[str, Any]:
    """Totals of a level's steps: ``[start, seconds, tokens, sequence of each token]``."""
    if not steps:
        return {}
    wall = steps[-1][0] + steps[-1][1] - steps[0][0]
    decode_only: dict[int, list[float]] = {}
    prompt_s, prompt_steps, prompt_tokens = 0.0, 0, 0
    for _, took, n, seqs in steps:
        per_seq = Counter(seqs)
        read = sum(k for k in per_seq.values() if k > 1)
        if read:
            prompt_s += took
            prompt_steps += 1
            prompt_tokens += read
        else:
            decode_only.setdefault(n, []).append(took)
    in_decode = sum(s[1] for s in steps)
    return {
        "wall_s": wall,
        "in_llama_decode_s": in_decode,
        "between_steps_s": wall - in_decode,
        "steps": len(steps),
        "decode_only": {
            str(n): {"steps": len(t), "seconds": sum(t), "median_ms": sorted(t)[len(t) // 2] * 1e3}
            for n, t in sorted(decode_only.items())
        },
        "prompt_steps": prompt_steps,
        "prompt_steps_s": prompt_s,
        "prompt_tokens": prompt_tokens,
    }


def table(levels: list[dict[str, Any]]) -> str:
    lines = [
        "| clients | tokens | tok/s | event loop CPU s (ms/token) | compute threads CPU s "
        "(% of wall each) | in llama_decode s | decode-only steps: n x median ms | "
        "prompt steps: n, s, prompt tokens | between steps s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        cpu, st, tok = lv["cpu"], lv["steps"], lv["completion_tokens"]
        each = " / ".join(f"{c / st['wall_s']:.0%}" for c in cpu["compute_threads_each_s"])
        dec = ", ".join(
            f"{v['steps']} x {k}seq {v['median_ms']:.1f}" for k, v in st["decode_only"].items()
        )
        lines.append(
            f"| {lv['concurrency']} | {tok} | {lv['tokens_per_s']:.1f} | "
            f"{cpu['event_loop_s']:.2f} ({cpu['event_loop_s'] / tok * 1e3:.2f}) | "
            f"{cpu['compute_threads_s']:.1f} ({each}) | {st['in_llama_decode_s']:.2f} | {dec} | "
            f"{st['prompt_steps']}, {st['prompt_steps_s']:.2f}, {st['prompt_tokens']} | "
            f"{st['between_steps_s']:.2f} |"
        )
    return "\n".join(lines)


@click.command(help=__doc__)
@click.option("--model", default="legal-gemma3-270m", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--concurrency", default="1,8", show_default=True)
@click.option("--requests", type=int, default=4, show_default=True, help="requests per client")
@click.option("--max-tokens", type=int, default=64, show_default=True)
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
def main(
    model: str,
    threads: int,
    concurrency: str,
    requests: int,
    max_tokens: int,
    json_out: Path | None,
) -> None:
    manifest = select_form(resolve_model(model, REPO / "models"))
    gguf = manifest.model_path
    prompts = load_prompts(
        REPO.parent / "shared" / "legal-data" / "qa" / "lawyer_llama_single_turn.jsonl"
    )
    extra = {"logit_bias": {str(t): -100 for t in ending_tokens(gguf, list(manifest.stop))}}
    port = free_port()
    cmd = server_command("legal-edge", model=model, gguf=gguf, port=port, threads=threads, ctx=4096)
    assert cmd is not None
    trace = Path(tempfile.mkdtemp()) / "steps.json"
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPO / "bench" / "decode_trace"), str(REPO)]),
        "DECODE_TRACE": str(trace),
    }
    levels = []
    with running(cmd, port, "/health/ready", Path("/tmp/server-steps.log"), env=env) as (
        proc,
        url,
    ):
        for i, c in enumerate(int(x) for x in concurrency.split(",")):
            if i == 0:  # the warm-up request, then a fresh record
                run_bench(url, concurrency=[1], requests=1, max_tokens=8, prompts=prompts,
                          endpoint="completions", template="gemma", warmup=False)  # fmt: skip
            recorded_steps(proc.pid, trace)  # the steps so far: not this level's
            before = thread_cpu(proc.pid)
            part = run_bench(url, concurrency=[c], requests=requests, max_tokens=max_tokens,
                             prompts=prompts[i * 64 :], endpoint="completions",
                             template="gemma", warmup=False, extra=extra)  # fmt: skip
            after = thread_cpu(proc.pid)
            steps = recorded_steps(proc.pid, trace)
            level = part["levels"][0]
            levels.append(
                {
                    "concurrency": c,
                    "completion_tokens": level["completion_tokens"],
                    "tokens_per_s": level["aggregate_tokens_per_s"],
                    "ttft_p95_s": level["ttft_s"]["p95"],
                    "errors": level["errors"],
                    "incomplete": level["incomplete"],
                    "cpu": cpu_split(proc.pid, before, after),
                    "steps": step_summary(steps),
                }
            )
    print(table(levels))
    if json_out:
        atomic_write_json(json_out, {"command": cmd, "gguf": str(gguf), "levels": levels})
        print(json.dumps({"wrote": str(json_out)}))


if __name__ == "__main__":
    main()
