"""``bench/server_steps.py``: the decode trace it loads into the server (a real llama_decode on
the tiny GGUF, recorded and written on SIGUSR1) and the sums it makes of a level's steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from server_steps import cpu_split, step_summary  # noqa: E402

DECODE_TWICE = """
import os, signal, sys, time
import llama_cpp
assert llama_cpp.llama_decode.__name__ == "_timed", "the trace is not installed"
from legal_edge.backends.llamacpp import cpu_mode
llama_cpp.llama_backend_init()
params = cpu_mode.model_params(repack=False)
model = llama_cpp.llama_model_load_from_file(sys.argv[1].encode(), params)
cp = llama_cpp.llama_context_default_params()
cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max, cp.n_threads = 64, 16, 16, 2, 1
ctx = llama_cpp.llama_init_from_model(model, cp)
batch = llama_cpp.llama_batch_init(16, 0, 1)
past = [0, 0]
for runs in [[(0, 3), (1, 2)], [(0, 1), (1, 1)]]:
    n = 0
    for seq, k in runs:
        for j in range(k):
            batch.token[n], batch.pos[n], batch.n_seq_id[n] = 5 + j, past[seq] + j, 1
            batch.seq_id[n][0], batch.logits[n] = seq, j == k - 1
            n += 1
        past[seq] += k
    batch.n_tokens = n
    assert llama_cpp.llama_decode(ctx, batch) == 0
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.2)
"""


def test_the_trace_records_every_decode_of_the_process(tiny_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "steps.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "bench" / "decode_trace"), str(REPO)]),
        "DECODE_TRACE": str(out),
    }
    subprocess.run([sys.executable, "-c", DECODE_TWICE, str(tiny_gguf)], env=env, check=True)
    steps = json.loads(out.read_text())
    assert [(s[2], s[3]) for s in steps] == [(5, [0, 0, 0, 1, 1]), (2, [0, 1])]
    assert all(s[1] > 0 for s in steps)
    summary = step_summary(steps)
    assert summary["prompt_steps"] == 1 and summary["prompt_tokens"] == 5
    assert summary["decode_only"]["2"]["steps"] == 1


def test_step_sums() -> None:
    steps = [
        [0.0, 0.5, 10, [0] * 6 + [1] * 4],  # two prompts read
        [0.6, 0.1, 2, [0, 1]],  # both decode
        [0.8, 0.1, 2, [0, 1]],
        [1.0, 0.05, 1, [0]],
    ]
    s = step_summary(steps)
    assert s["wall_s"] == pytest.approx(1.05) and s["in_llama_decode_s"] == pytest.approx(0.75)
    assert s["between_steps_s"] == pytest.approx(0.3)
    assert s["prompt_steps"] == 1 and s["prompt_tokens"] == 10
    assert s["decode_only"]["2"] == {"steps": 2, "seconds": pytest.approx(0.2), "median_ms": 100.0}
    cpu = cpu_split(7, {7: 1.0, 8: 0.0, 9: 0.0, 10: 0.0}, {7: 1.5, 8: 4.0, 9: 3.0, 10: 0.2})
    assert cpu["event_loop_s"] == 0.5 and cpu["compute_threads_s"] == 7.0
    assert cpu["other_threads_s"] == pytest.approx(0.2)
