"""Measure the llama.cpp backend without HTTP: aggregate decode tokens/s at several concurrencies.

    .venv/bin/python bench/engine_speed.py [--model models/gemma3-270m] [--set kv_unified=true]

Each client sends ``--requests`` chat prompts from ../shared/legal-data (qa instructions) one
after another, greedy, ``--max-tokens`` each. Prints tokens/s, TTFT p95 and tokens per
CPU-second of the process (steadier than wall time on a shared box).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import click
import yaml

from legal_edge.backends.base import BackendOptions, GenerationRequest, SamplingParams
from legal_edge.backends.llamacpp.backend import LlamaCppBackend
from legal_edge.models.manifest import resolve_model
from legal_edge.prompts import render_chat
from legal_edge.settings.loader import parse_overrides

REPO = Path(__file__).resolve().parents[1]
QA = REPO.parent / "shared" / "legal-data" / "qa" / "lawyer_llama_single_turn.jsonl"


def prompts(n: int) -> list[str]:
    out = []
    with open(QA, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("instruction") and len(rec["instruction"]) < 300:
                out.append(rec["instruction"])
            if len(out) >= n:
                break
    return out


@dataclass(frozen=True)
class Options:
    model: str
    threads: int
    parallel: int
    ctx: int
    batch: int
    requests: int
    max_tokens: int
    concurrency: tuple[int, ...]
    ttfts: bool
    set: tuple[str, ...]


async def run(args: Options) -> None:
    manifest = resolve_model(args.model, REPO / "models")
    # the same key=value overrides as the recipes' --set; values read as YAML (true, 4, 0.5)
    extra = {k: yaml.safe_load(v) for k, v in parse_overrides(args.set).items()}
    backend = LlamaCppBackend(
        manifest,
        BackendOptions(
            n_threads=args.threads,
            n_parallel=args.parallel,
            n_ctx=args.ctx,
            n_batch=args.batch,
            extra=extra,
        ),
    )
    await backend.start()
    texts = [
        render_chat(manifest.chat_template, [{"role": "user", "content": p}]) for p in prompts(64)
    ]
    for conc in args.concurrency:
        ttft: list[float] = []
        tokens = 0

        async def client(c: int, ttft: list[float] = ttft) -> None:
            nonlocal tokens
            for r in range(args.requests):
                prompt = texts[(c * args.requests + r) % len(texts)]
                t0 = time.perf_counter()
                first = True
                req = GenerationRequest(
                    f"{c}-{r}", prompt, SamplingParams(max_tokens=args.max_tokens, temperature=0)
                )
                async for chunk in backend.generate(req):
                    if first:
                        ttft.append(time.perf_counter() - t0)
                        first = False
                    if chunk.finish_reason:
                        tokens += chunk.completion_tokens

        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(c) for c in range(conc)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        ttft.sort()
        p95 = ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))]
        print(
            f"clients={conc:2d} tokens={tokens:5d} wall={wall:6.2f}s "
            f"agg={tokens / wall:6.1f} tok/s ttft_p95={p95:.3f}s "
            f"cpu={cpu:6.2f}s ({tokens / cpu:6.1f} tok/cpu-s)",
            flush=True,
        )
        if args.ttfts:
            print("  ttft s:", " ".join(f"{t:.2f}" for t in ttft), flush=True)
    await backend.stop()


def concurrency_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: comma-separated integers, e.g. 1,4,8") from None


@click.command(help=__doc__)
@click.option("--model", default="gemma3-270m", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--parallel", type=int, default=8, show_default=True)
@click.option("--ctx", type=int, default=2048, show_default=True)
@click.option(
    "--batch", type=int, default=512, show_default=True, help="prompt tokens per step (n_batch)"
)
@click.option("--requests", type=int, default=4, show_default=True)
@click.option("--max-tokens", type=int, default=64, show_default=True)
@click.option("-c", "--concurrency", default="1,4,8", show_default=True, callback=concurrency_list)
@click.option("--ttfts", is_flag=True, help="print every time to first token")
@click.option(
    "--set", "set_", multiple=True, metavar="KEY=VALUE", help="backend extra: kv_unified=true"
)
def main(
    model: str,
    threads: int,
    parallel: int,
    ctx: int,
    batch: int,
    requests: int,
    max_tokens: int,
    concurrency: tuple[int, ...],
    ttfts: bool,
    set_: tuple[str, ...],
) -> None:
    asyncio.run(
        run(
            Options(
                model, threads, parallel, ctx, batch, requests, max_tokens, concurrency, ttfts, set_
            )
        )
    )


if __name__ == "__main__":
    main()
