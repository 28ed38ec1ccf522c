"""Measure one GGUF variant the way it will be served, in a fresh process.

Each variant runs in its own subprocess so that its peak RSS (``ru_maxrss``) is its own: load
time, greedy decode speed and peak memory are taken with a server-sized context first; then the
same process scores the validation tokens with every position's logits for perplexity, and, given
the F16 reference's log-probabilities, the KL divergence and top-1 agreement against it.

    python -m recipes.export.measure REQUEST.json   # writes the result JSON named in the request
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.fileio import atomic_write_json
from recipes.shared.numeric import log_softmax


class MeasureError(RuntimeError):
    """A variant that could not be measured; the message has the subprocess's output tail."""


def _rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` is this address space's own high-water mark; ``ru_maxrss`` would also carry the
    parent's peak across fork/exec (the export process holds torch), so it is only the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _logits_ptr(llm, n_vocab: int) -> np.ndarray:
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))


def serve_stats(req: dict[str, Any]) -> dict[str, Any]:
    """Load time, decode tokens/s and peak RSS with a server-sized context."""

    t0 = time.perf_counter()
    llm = open_llama(
        req["model"],
        lora_path=req.get("lora"),
        n_ctx=req["serve_ctx"],
        n_threads=req["threads"],
        n_threads_batch=req["threads"],
        verbose=False,
    )
    load_s = time.perf_counter() - t0
    n_vocab = llm.n_vocab()
    n = req["decode_tokens"]
    prompt = llm.tokenize(req["decode_prompt"].encode("utf-8"), add_bos=True, special=True)
    llm.eval(prompt[: max(2, min(128, req["serve_ctx"] - n - 8))])
    tok = int(np.argmax(_logits_ptr(llm, n_vocab)))
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(n):  # fixed length, end-of-turn or not: this measures speed, not answers
        llm.eval([tok])
        tok = int(np.argmax(_logits_ptr(llm, n_vocab)))
    decode_s = time.perf_counter() - t1
    cpu_s = time.process_time() - c1
    stats = {
        "load_s": round(load_s, 3),
        "decode_tokens": n,
        "decode_tok_s": round(n / decode_s, 2) if decode_s > 0 else None,
        # tokens per CPU-second of this process: on a shared, busy machine wall-clock speed
        # mostly measures the neighbours; this does not (multiply by free cores for a guess)
        "decode_tok_per_cpu_s": round(n / cpu_s, 2) if cpu_s > 0 else None,
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": _rss_mb(),
    }
    llm.close()
    return stats


def quality_stats(req: dict[str, Any]) -> dict[str, Any]:
    """Perplexity on the validation tokens; KL and top-1 agreement against the reference."""

    chunk = req["chunk_tokens"]
    llm = open_llama(
        req["model"],
        lora_path=req.get("lora"),
        n_ctx=chunk + 8,
        n_batch=chunk + 8,
        n_threads=req["threads"],
        n_threads_batch=req["threads"],
        logits_all=True,
        verbose=False,
    )
    tokens = req.get("tokens")
    if tokens is None:
        text = req["text"]
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)[: req["kl_tokens"]]
    bos = llm.token_bos()
    chunks = [[bos, *tokens[i : i + chunk - 1]] for i in range(0, len(tokens), chunk - 1)]
    chunks = [c for c in chunks if len(c) >= 2]
    n_pos = sum(len(c) for c in chunks)
    n_vocab = llm.n_vocab()
    ref = np.load(req["ref_logprobs"], mmap_mode="r") if req.get("ref_logprobs") else None
    save = (
        np.lib.format.open_memmap(
            req["save_logprobs"], mode="w+", dtype=np.float32, shape=(n_pos, n_vocab)
        )
        if req.get("save_logprobs")
        else None
    )
    if ref is not None and ref.shape != (n_pos, n_vocab):
        raise MeasureError(f"reference log-probs {ref.shape} do not match {(n_pos, n_vocab)}")
    nll: list[float] = []
    kl: list[float] = []
    agree = 0
    row = 0
    for c in chunks:
        llm.reset()
        llm.eval(c)
        lp = log_softmax(np.asarray(llm.scores[: len(c)]))
        nll += [-float(lp[i, c[i + 1]]) for i in range(len(c) - 1)]
        if save is not None:
            save[row : row + len(c)] = lp
        if ref is not None:
            r = np.asarray(ref[row : row + len(c)], dtype=np.float64)
            kl += list((np.exp(r) * (r - lp)).sum(axis=-1))
            agree += int((r.argmax(-1) == lp.argmax(-1)).sum())
        row += len(c)
    if save is not None:
        save.flush()
    out: dict[str, Any] = {
        "tokens": tokens,
        "positions": n_pos,
        "perplexity": round(float(np.exp(np.mean(nll))), 4),
    }
    if ref is not None:
        kls = np.array(kl)
        out.update(
            kl_mean=float(kls.mean()),
            kl_p99=float(np.percentile(kls, 99)),
            kl_max=float(kls.max()),
            top1_agreement=round(agree / n_pos, 4),
        )
    llm.close()
    return out


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = serve_stats(req)  # before the scoring pass: its RSS is the serving footprint
    result.update(quality_stats(req))
    atomic_write_json(req["out"], result)
    return 0


def measure_variant(
    req: dict[str, Any], work: Path, label: str, timeout_s: float
) -> dict[str, Any]:
    """Run the measurement of one variant in a subprocess; return its result dict."""
    work.mkdir(parents=True, exist_ok=True)
    req_path = work / f"{label}.request.json"
    out = work / f"{label}.measure.json"
    atomic_write_json(req_path, {**req, "out": str(out)})
    proc = subprocess.run(
        [sys.executable, "-m", "recipes.export.measure", str(req_path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=Path(__file__).resolve().parents[2],
    )
    if proc.returncode != 0 or not out.is_file():
        raise MeasureError(
            f"measuring {label} ({req['model']}) failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return json.loads(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
