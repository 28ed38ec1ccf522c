"""What one ``llama_decode`` costs on this machine: the floor under any llama.cpp server.

    .venv/bin/python bench/step_cost.py [--model gemma3-270m] [--threads 2]

Prints prompt-processing speed by chunk size (logits for the last token only), the time of a
decode step for 1 and 8 sequences, and of steps that need logits for several positions per
sequence (what verifying speculative drafts would cost). From these and a benchmark's prompt
lengths follow two bounds that no server on the same kernels can beat: the time until the k-th
of n simultaneous prompts has its first token (the prompts before it must be read first), and
the aggregate tokens/s of a load level (all prompts read + all decode steps).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import llama_cpp
import numpy as np

from legal_edge.backends.llamacpp import cpu_mode
from legal_edge.models.manifest import resolve_model
from legal_edge.models.merged_build import select_form

REPO = Path(__file__).resolve().parents[1]


class Context:
    def __init__(self, model_path: Path, threads: int, n_seq: int, n_batch: int):
        llama_cpp.llama_backend_init()
        cpu_mode.route_llama_log(verbose=False)
        repack = cpu_mode.decide(model_path).repack  # off on CPUs where repacking crashes
        self.model = llama_cpp.llama_model_load_from_file(
            str(model_path).encode(), cpu_mode.model_params(repack)
        )
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = 2048 * n_seq
        cp.n_batch = cp.n_ubatch = n_batch
        cp.n_seq_max = n_seq
        cp.n_threads = cp.n_threads_batch = threads
        cp.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.tokens = [1000 + (i * 7919) % (n_vocab - 1000) for i in range(n_batch)]

    def clear(self) -> None:
        llama_cpp.llama_memory_seq_rm(self.mem, -1, -1, -1)

    def decode(self, seqs: list[tuple[int, int, int]], all_logits: bool) -> float:
        """Decode ``(seq, first position, n tokens)`` runs in one call; seconds taken."""
        b, n = self.batch, 0
        for seq, p0, k in seqs:
            for j in range(k):
                b.token[n] = self.tokens[n]
                b.pos[n] = p0 + j
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = seq
                b.logits[n] = all_logits or j == k - 1
                n += 1
        b.n_tokens = n
        t = time.perf_counter()
        if llama_cpp.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - t


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


@click.command(help=__doc__)
@click.option(
    "--model", default="gemma3-270m", show_default=True, help="model name, directory or GGUF"
)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--repeats", type=int, default=5, show_default=True)
def main(model: str, threads: int, repeats: int) -> None:
    # the file the server would serve (the merged form of an adapter model where one is built)
    gguf = select_form(resolve_model(model, REPO / "models")).model_path
    c = Context(gguf, threads, n_seq=8, n_batch=1024)
    c.decode([(0, 0, 32)], False)  # warm-up: page in the weights
    print(f"{gguf.name}, {threads} threads")
    print("prompt tokens in one call   ms      tokens/s")
    for size in (32, 64, 128, 256, 512, 1024):
        times = []
        for _ in range(repeats):
            c.clear()
            times.append(c.decode([(0, 0, size)], False))
        t = median(times)
        print(f"{size:>18}  {t * 1000:8.1f}  {size / t:10.0f}")
    c.clear()
    c.decode([(s, 0, 100) for s in range(8)], False)  # 8 sequences with 100 tokens of context
    print("sequences x positions with logits   ms      tokens/s")
    for n_seq in (1, 8):
        for per in (1, 2, 4, 8):
            times = []
            for _ in range(repeats * 2):
                times.append(c.decode([(s, 100, per) for s in range(n_seq)], True))
                for s in range(n_seq):
                    llama_cpp.llama_memory_seq_rm(c.mem, s, 100, -1)
            t = median(times)
            print(f"{n_seq:>9} x {per:<3} {t * 1000:22.1f}  {n_seq * per / t:10.0f}")
            if (n_seq, per) == (1, 1):
                one = t
    # one stream's floor: every weight byte read once per token at the machine's read speed
    gbps = read_bandwidth(threads)
    size = gguf.stat().st_size
    floor = size / (gbps * 1e9)
    print(f"memory read, {threads} threads: {gbps:.1f} GB/s; the file: {size / 1e6:.0f} MB,")
    print(f"read once per token: {floor * 1000:.1f} ms, {1 / floor:.0f} tokens/s for one stream")
    print(f"measured 1 x 1: {one * 1000:.1f} ms = {floor / one:.0%} of that bound")


def read_bandwidth(threads: int, mb: int = 1024, repeats: int = 5) -> float:
    """GB/s of reading a buffer far larger than the caches, split over ``threads`` threads
    (numpy's sum releases the GIL), best of ``repeats``."""
    data = np.ones(mb * 2**20 // 8, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9


if __name__ == "__main__":
    main()
