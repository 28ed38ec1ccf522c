"""What the citation grammar costs: grounded answers decoded with ``citation_mode: constrained``
against ``check`` (no grammar), side by side in one run.

    .venv/bin/python -m recipes.bench.citation_grammar_speed [--model legal-gemma3-270m] \
        [--rounds 2] [--requests 2] [--max-tokens 64] [--json out.json]

Each round starts the server in process once per mode (the real app, real llama.cpp, the
shipped model and its statute index), and measures streamed chat completions of the shipped
legal questions at 1 and 8 concurrent clients (``legal_edge.tools.bench.run_bench``). Modes
alternate within each round so drift on a shared box hits both alike. The ratios are constrained
over check, per concurrency, of the medians over rounds (``METRICS``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import uvicorn

from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from legal_edge.tools.bench import run_bench

MODES = ("check", "constrained")


@contextlib.contextmanager
def serving(settings: Settings, timeout: float = 300.0) -> Iterator[str]:
    """The app under uvicorn on a free local port, until ready; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or not thread.is_alive():
                raise click.ClickException(f"the server at {url} did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def measure(
    model: str, models_dir: Path, rounds: int, requests: int, max_tokens: int
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            settings = Settings(
                model=model, models_dir=models_dir, n_parallel=8, citation_mode=mode
            )
            with serving(settings) as url:
                report = run_bench(
                    url, model=model, concurrency=(1, 8), requests=requests, max_tokens=max_tokens
                )
            runs[mode].append(report)
    levels: dict[str, dict[str, Any]] = {}
    for conc in (1, 8):
        row: dict[str, Any] = {}
        for name, read in METRICS.items():
            med = {
                mode: statistics.median(
                    read(lvl)
                    for r in runs[mode]
                    for lvl in r["levels"]
                    if lvl["concurrency"] == conc
                )
                for mode in MODES
            }
            row[name] = {**med, "ratio": round(med["constrained"] / med["check"], 3)}
        levels[str(conc)] = row
    return {
        "model": model,
        "rounds": rounds,
        "max_tokens": max_tokens,
        "levels": levels,
        "runs": runs,
    }


# What is compared: completion tokens over the wall time of the level (prompts included), and
# the decode rate of one stream (1 / the median gap between its streamed tokens).
METRICS = {
    "aggregate_tokens_per_s": lambda lvl: lvl["aggregate_tokens_per_s"],
    "stream_decode_tokens_per_s": lambda lvl: 1.0 / lvl["itl_s"]["p50"],
}


@click.command()
@click.option("--model", default="legal-gemma3-270m", show_default=True)
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"))
@click.option("--rounds", default=2, show_default=True, help="alternations of the two modes")
@click.option("--requests", default=2, show_default=True, help="requests per client")
@click.option("--max-tokens", default=64, show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(
    model: str, models_dir: Path, rounds: int, requests: int, max_tokens: int, json_out: Path | None
) -> None:
    """Decode speed of grounded answers with and without the citation grammar."""
    report = measure(model, models_dir, rounds, requests, max_tokens)
    if json_out is not None:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    click.echo(json.dumps(report["levels"], indent=1))


if __name__ == "__main__":
    main()
