"""Issue 17 figure: what the prompt's own log-probabilities (completions ``echo`` + ``logprobs``
+ ``max_tokens: 0``, the way an evaluation scores answers) cost against plain prefill of the
same prompt, on a real model through a live server.

    .venv/bin/python bench/prompt_logprobs.py --model legal-gemma3-270m --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a file: tests.fixtures is importable from the checkout

from legal_edge.server.app import create_app  # noqa: E402
from legal_edge.settings.server import Settings  # noqa: E402
from tests.fixtures.live_server import live_server  # noqa: E402

CASES = REPO.parent / "shared/legal-data/cases/typical_cases.jsonl"


def rss_mb() -> float:
    """This process's resident memory now (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def legal_prompt(client: openai.OpenAI, model: str, tokens: int) -> tuple[str, int]:
    """Judgment text cut to about ``tokens`` tokens (counted by the server), then the prompt."""
    text = "\n".join(json.loads(line)["text"] for line in CASES.read_text().splitlines()[:5])
    lo, hi = 0, min(len(text), 3 * tokens)  # within the context: a token is >= 1 character
    while lo < hi:  # the longest prefix within the token budget
        mid = (lo + hi + 1) // 2
        n = count(client, model, text[:mid])
        lo, hi = (mid, hi) if n <= tokens else (lo, mid - 1)
    return text[:lo], count(client, model, text[:lo])


def count(client: openai.OpenAI, model: str, prompt: str) -> int:
    r = client.completions.create(model=model, prompt=prompt, max_tokens=0, echo=True)
    return r.usage.prompt_tokens


def timed(client: openai.OpenAI, repeats: int, **kw: object) -> dict[str, float]:
    walls = []
    for _ in range(repeats):
        t0 = time.monotonic()
        client.completions.create(**kw)  # type: ignore[call-overload]
        walls.append(time.monotonic() - t0)
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3)}


def agreement(
    files: tuple[Path, Path | None], prompt: str, served: list[float | None], threads: int
) -> list[dict]:
    """The server's prompt logprobs against llama.cpp's own full-logits evaluation of the same
    tokens (one sequence, in-process), with flash attention off (llama-cpp-python's default)
    and on (llama.cpp's default, which the server's context takes)."""
    import numpy as np

    from legal_edge.backends.llamacpp.cpu_mode import open_llama

    rows = []
    for flash in (False, True):
        llm = open_llama(
            files[0],
            lora_path=str(files[1]) if files[1] else None,
            n_ctx=1024,
            logits_all=True,
            n_threads=threads,
            flash_attn=flash,
        )
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llm.eval(tokens)
        scores = np.array(llm.scores[: len(tokens)], dtype=np.float64)
        llm.close()
        scores -= scores.max(axis=1, keepdims=True)
        lsm = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        ref = np.array([lsm[i - 1, tokens[i]] for i in range(1, len(tokens))])
        diff = np.abs(np.array(served[1:], dtype=np.float64) - ref)
        rows.append(
            {
                "reference_flash_attn": flash,
                "tokens": len(tokens),
                "mean_abs_diff": round(float(diff.mean()), 4),
                "max_abs_diff": round(float(diff.max()), 4),
                "logprob_at_max": round(float(ref[diff.argmax()]), 2),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="legal-gemma3-270m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=500, help="prompt length to aim for")
    ap.add_argument("--repeats", type=int, default=5, help="0: no timing")
    ap.add_argument(
        "--agreement", action="store_true", help="also compare with llama.cpp's own evaluation"
    )
    args = ap.parse_args()
    settings = Settings(
        model=args.model,
        models_dir=REPO / "models",
        backend="llamacpp",
        n_parallel=4,
        n_ctx=2048,
        n_threads=args.threads,
    )
    app = create_app(settings)
    with live_server(app, timeout=300) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        prompt, n = legal_prompt(client, args.model, args.tokens)
        base = {"model": args.model, "prompt": prompt, "temperature": 0}
        if args.agreement:
            r = client.completions.create(
                model=args.model, prompt=prompt, max_tokens=0, echo=True, logprobs=0
            )
            served = r.choices[0].logprobs.token_logprobs
            loaded = app.state.server.models[args.model].backend.manifest  # the form served
            files = (loaded.model_path, loaded.adapter_path)
            for row in agreement(files, prompt, served, args.threads):
                print(json.dumps(row), flush=True)
        if args.repeats < 1:
            return
        rss0 = rss_mb()
        # prefill + one greedy token: what any request pays for this prompt (shorter than
        # n_batch, so no cached prefix is ever reused between repeats)
        rows = {"prefill (max_tokens 1)": timed(client, args.repeats, **base, max_tokens=1)}
        for k in (0, 5):
            name = f"echo + logprobs {k}, max_tokens 0"
            rows[name] = timed(client, args.repeats, **base, max_tokens=0, echo=True, logprobs=k)
        plain = rows["prefill (max_tokens 1)"]["median_s"]
        for name, row in rows.items():
            print(
                json.dumps(
                    {
                        "case": name,
                        "prompt_tokens": n,
                        **row,
                        "vs_prefill": round(row["median_s"] / plain, 2),
                    }
                ),
                flush=True,
            )
        print(json.dumps({"rss_mb_before_scoring": round(rss0), "rss_mb_after": round(rss_mb())}))


if __name__ == "__main__":
    main()
