"""Issue 17 figures: the worked judgment example on a real model, and what grammar-constrained
decoding costs (tokens/s with and without a schema at 1 and 8 clients).

    .venv/bin/python bench/api_breadth.py --model legal-gemma3-270m --threads 2

``--url`` measures a server that is already running instead (the vLLM backend, which runs in
its own environment): ``--url http://127.0.0.1:8000 --model gemma3-270m-hf``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a file: tests.fixtures is importable from the checkout

from legal_edge.server.app import create_app  # noqa: E402
from legal_edge.settings.server import Settings  # noqa: E402
from tests.fixtures.live_server import live_server  # noqa: E402

SCHEMA = json.loads((REPO / "docs/examples/judgment_schema.json").read_text())
CASES = REPO.parent / "shared/legal-data/cases/typical_cases.jsonl"


def judgment(index: int = 0) -> str:
    """The case's facts, claims and result (the sections a clerk would extract from)."""
    text = json.loads(CASES.read_text().splitlines()[index])["text"]
    keep = [
        s for s in text.split("\n## ")[1:] if s.startswith(("基本案情", "原告诉讼请求", "裁判结果"))
    ]
    return "\n".join(keep)


def extract_messages(case: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "从判决书中提取当事人、诉讼请求、金额（元）和引用的法条，输出 JSON。",
        },
        {"role": "user", "content": case},
    ]


def run(client: openai.OpenAI, model: str, clients: int, schema: dict | None, n: int) -> dict:
    fmt = (
        {"type": "json_schema", "json_schema": {"name": "judgment", "schema": schema}}
        if schema
        else None
    )

    def one(i: int) -> int:
        kw = {"response_format": fmt} if fmt else {}
        r = client.chat.completions.create(
            model=model,
            messages=extract_messages(judgment(i % 10)),
            temperature=0,
            max_tokens=64,
            **kw,
        )
        return r.usage.completion_tokens

    t0 = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(one, range(n)))
    wall = time.monotonic() - t0
    return {
        "clients": clients,
        "schema": schema is not None,
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="legal-gemma3-270m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--requests", type=int, default=2)
    ap.add_argument("--url", help="a running server to measure (no llama.cpp server started)")
    args = ap.parse_args()
    if args.url:
        measure(args.url, args.model, args.requests)
        return
    settings = Settings(
        model=args.model,
        models_dir=REPO / "models",
        backend="llamacpp",
        n_parallel=8,
        n_ctx=2048,
        n_threads=args.threads,
    )
    with live_server(create_app(settings), timeout=300) as url:
        measure(url, args.model, args.requests)


def measure(url: str, model: str, requests: int) -> None:
    """The worked example, then tokens/s with and without the schema at 1 and 8 clients."""
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=900)
    r = client.chat.completions.create(
        model=model,
        messages=extract_messages(judgment(0)),
        temperature=0,
        max_tokens=400,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "judgment", "schema": SCHEMA},
        },
    )
    example = {
        "example": r.choices[0].message.content,
        "finish_reason": r.choices[0].finish_reason,
        "usage": r.usage.model_dump(),
    }
    print(json.dumps(example, ensure_ascii=False))
    for clients in (1, 8):
        for schema in (None, SCHEMA):
            n = max(clients, requests) if clients > 1 else requests
            print(json.dumps(run(client, model, clients, schema, n)), flush=True)


if __name__ == "__main__":
    main()
