"""What a second OpenMP team costs a decode step: the same steps from one thread, from a
fresh thread, and from a fresh thread after the main thread has decoded once.

    .venv/bin/python bench/omp_teams.py [--model legal-gemma3-270m] [--threads 2]

llama.cpp's CPU kernels run under OpenMP, and libgomp keeps a team of worker threads for every
thread that has started a parallel region. The engine once decoded its start-up timings on the
thread that built it and served from its own thread: two teams, one idle. Each case here runs
the same 64 one-token steps of one sequence after a 100-token prompt, in a new process (a
process's teams live as long as it does), and prints the median step.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASES = {
    "main": "every step on the main thread",
    "thread": "every step on one other thread",
    "both": "the main thread decoded once first, then every step on another thread",
}


def steps(gguf: Path, threads: int, case: str) -> float:
    """Median seconds of a one-token step in ``case`` (run in this process)."""
    import llama_cpp

    from legal_edge.backends.llamacpp import cpu_mode

    llama_cpp.llama_backend_init()
    cpu_mode.route_llama_log(verbose=False)
    repack = cpu_mode.decide(gguf).repack
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), cpu_mode.model_params(repack))
    cp = llama_cpp.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = 4096, 128, 128, 1
    cp.n_threads = cp.n_threads_batch = threads
    cp.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, cp)
    mem = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(128, 0, 1)

    def decode(tokens: list[int], pos0: int) -> float:
        for i, tok in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos0 + i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, i == len(tokens) - 1
        batch.n_tokens = len(tokens)
        start = time.perf_counter()
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - start

    times: list[float] = []

    def run() -> None:
        llama_cpp.llama_memory_seq_rm(mem, -1, -1, -1)
        decode([1000 + i for i in range(100)], 0)
        times.extend(decode([2000 + s], 100 + s) for s in range(64))

    if case == "both":
        decode([1000], 0)  # the main thread's team
    if case == "main":
        run()
    else:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    return sorted(times)[len(times) // 2]


@click.command(help=__doc__)
@click.option("--model", default="legal-gemma3-270m", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True, help="processes per case")
@click.option("--case", type=click.Choice(list(CASES)), default=None, hidden=True)
def main(model: str, threads: int, repeats: int, case: str | None) -> None:
    from legal_edge.models.manifest import resolve_model
    from legal_edge.models.merged_build import select_form

    gguf = select_form(resolve_model(model, REPO / "models")).model_path
    if case is not None:  # one measurement, in this (fresh) process
        print(f"{steps(gguf, threads, case) * 1000:.2f}")
        return
    print(
        f"{gguf.name}, {threads} threads: median ms of a one-token step, {repeats} processes each"
    )
    results: dict[str, list[float]] = {c: [] for c in CASES}
    for _ in range(repeats):  # the cases alternate: this CPU's speed drifts within minutes
        for c in CASES:
            out = subprocess.run(
                [sys.executable, __file__, "--model", model, "--threads", str(threads),
                 "--case", c],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[c].append(float(out.stdout.split()[-1]))
    for c, ms in results.items():
        print(f"{c:>7}  {' '.join(f'{m:6.2f}' for m in ms)}   {CASES[c]}")


if __name__ == "__main__":
    main()
