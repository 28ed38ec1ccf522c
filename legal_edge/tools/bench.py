"""Load-test any OpenAI-compatible server: latency percentiles, TTFT, tokens/s, broken streams.

``run_bench`` is the measurement (a plain function the cost analysis reuses); ``bench_command``
is the ``legal-edge bench`` CLI around it. Each of ``concurrency`` clients sends ``requests``
requests one after another; prompts are the legal questions shipped with it
(``bench_prompts.txt``) unless a file is given. Completion tokens are counted from the server's
``usage`` (streamed with ``stream_options: {include_usage: true}``), or as content chunks where
a server reports no
usage (counted in ``usage_missing``); a stream is *incomplete* when it ends without
``[DONE]`` or a finish reason, or says "length" with fewer tokens than were asked for.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from legal_edge.fileio import atomic_write_json
from legal_edge.prompts import KNOWN_TEMPLATES, render_chat
from legal_edge.tools.sse import parse_line

PROMPT_FIELDS = ("prompt", "instruction", "question", "text")


class BenchError(click.ClickException):
    pass


@dataclass
class RequestResult:
    ok: bool
    error: str | None = None
    status: int | None = None
    latency_s: float = 0.0  # request sent -> last byte
    ttft_s: float | None = None  # request sent -> first content
    itl_s: list[float] = field(default_factory=list)  # gaps between content chunks
    completion_tokens: int = 0  # from usage; content chunks when the server reports none
    content_chunks: int = 0
    prompt_tokens: int = 0
    usage_reported: bool = False
    complete: bool = False
    finish_reason: str | None = None


# -- prompts ----------------------------------------------------------------------------------


# Our own questions, shipped inside the package (and the binary), so a bench runs anywhere.
DEFAULT_PROMPTS = Path(__file__).with_name("bench_prompts.txt")


def load_prompts(path: Path | None = None, limit: int = 256, max_chars: int = 400) -> list[str]:
    """Prompts from a JSONL file (first of the fields prompt/instruction/question/text) or a
    text file (one per line). Default: the legal questions shipped with legal-edge."""
    path = DEFAULT_PROMPTS if path is None else path
    if not path.is_file():
        raise BenchError(f"prompts file not found: {path}")
    prompts: list[str] = []
    rejected = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if path.suffix == ".jsonl":
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BenchError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
                text = next((rec[k] for k in PROMPT_FIELDS if isinstance(rec.get(k), str)), "")
            else:
                text = line
            text = text.strip()
            if not text or len(text) > max_chars:
                rejected += 1  # empty or too long for a latency benchmark
                continue
            prompts.append(text)
            if len(prompts) >= limit:
                break
    if not prompts:
        raise BenchError(f"{path}: no usable prompts ({rejected} rejected: empty or too long)")
    return prompts


# -- one request ------------------------------------------------------------------------------


def _body(
    model: str, prompt: str, max_tokens: int, stream: bool, endpoint: str, template: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        if template:
            prompt = render_chat(
                KNOWN_TEMPLATES[template][0], [{"role": "user", "content": prompt}]
            )
        body["prompt"] = prompt
    return body


def _content(choice: dict[str, Any]) -> str:
    if "delta" in choice:
        return choice["delta"].get("content") or ""
    if "message" in choice:
        return (choice["message"] or {}).get("content") or ""
    return choice.get("text") or ""


async def one_request(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], max_tokens: int
) -> RequestResult:
    res = RequestResult(ok=False)
    t0 = time.perf_counter()
    last: float | None = None
    try:
        if not body["stream"]:
            resp = await client.post(url, json=body)
            res.status = resp.status_code
            res.latency_s = time.perf_counter() - t0
            if resp.status_code != 200:
                res.error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                return res
            data = resp.json()
            res.ttft_s = res.latency_s
            choice = (data.get("choices") or [{}])[0]
            res.finish_reason = choice.get("finish_reason")
            _take_usage(res, data.get("usage"))
            res.complete = res.finish_reason is not None
        else:
            async with client.stream("POST", url, json=body) as resp:
                res.status = resp.status_code
                if resp.status_code != 200:
                    res.error = f"HTTP {resp.status_code}: {(await resp.aread())[:200]!r}"
                    res.latency_s = time.perf_counter() - t0
                    return res
                done = False
                async for line in resp.aiter_lines():
                    data = parse_line(line)
                    if data is None:
                        continue
                    if isinstance(data, str):  # DONE
                        done = True
                        break
                    if "error" in data:
                        res.error = f"stream error: {str(data['error'])[:200]}"
                        break
                    _take_usage(res, data.get("usage"))
                    for choice in data.get("choices") or []:
                        if _content(choice):
                            res.content_chunks += 1
                            now = time.perf_counter()
                            if res.ttft_s is None:
                                res.ttft_s = now - t0
                            elif last is not None:
                                res.itl_s.append(now - last)
                            last = now
                        if choice.get("finish_reason"):
                            res.finish_reason = choice["finish_reason"]
                res.latency_s = time.perf_counter() - t0
                res.complete = done and res.finish_reason is not None
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        res.latency_s = time.perf_counter() - t0
        res.error = f"{type(exc).__name__}: {exc}"
        return res
    if not res.usage_reported:
        res.completion_tokens = res.content_chunks  # a lower bound: a chunk has >= 1 token
    if res.finish_reason == "length" and res.usage_reported and res.completion_tokens < max_tokens:
        res.complete = False  # the server says "length" but stopped short
    res.ok = res.error is None
    return res


def _take_usage(res: RequestResult, usage: dict[str, Any] | None) -> None:
    if usage:
        res.usage_reported = True
        res.completion_tokens = int(usage.get("completion_tokens") or 0)
        res.prompt_tokens = int(usage.get("prompt_tokens") or 0)


# -- a load level -----------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    v = sorted(values)

    def q(p: float) -> float:  # nearest rank
        return v[min(len(v), max(1, math.ceil(p / 100 * len(v)))) - 1]

    return {"p50": q(50), "p95": q(95), "p99": q(99), "mean": statistics.fmean(v)}


def summarize(
    results: list[RequestResult], wall_s: float, concurrency: int, max_tokens: int
) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    tokens = sum(r.completion_tokens for r in ok)
    per_stream = [
        r.completion_tokens / r.latency_s for r in ok if r.latency_s > 0 and r.completion_tokens
    ]
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "incomplete": sum(1 for r in ok if not r.complete),
        "usage_missing": sum(1 for r in ok if not r.usage_reported),
        "wall_s": wall_s,
        "completion_tokens": tokens,
        "requested_tokens": max_tokens * len(results),
        "aggregate_tokens_per_s": tokens / wall_s if wall_s > 0 else 0.0,
        "per_stream_tokens_per_s": percentiles(per_stream),
        "latency_s": percentiles([r.latency_s for r in ok]),
        "ttft_s": percentiles([r.ttft_s for r in ok if r.ttft_s is not None]),
        "itl_s": percentiles([gap for r in ok for gap in r.itl_s]),
        "error_samples": sorted({r.error for r in results if r.error})[:5],
    }


async def _run_level(
    url: str,
    bodies: list[dict[str, Any]],
    concurrency: int,
    requests: int,
    max_tokens: int,
    headers: dict[str, str],
    timeout_s: float,
    offset: int = 0,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:

        async def client_loop(c: int) -> list[RequestResult]:
            out = []
            for r in range(requests):
                body = bodies[(offset + c * requests + r) % len(bodies)]
                out.append(await one_request(client, url, body, max_tokens))
            return out

        t0 = time.perf_counter()
        per_client = await asyncio.gather(*(client_loop(c) for c in range(concurrency)))
        wall = time.perf_counter() - t0
    results = [r for rs in per_client for r in rs]
    summary = summarize(results, wall, concurrency, max_tokens)
    summary["results"] = [asdict(r) for r in results]
    return summary


def served_model(url: str, headers: dict[str, str]) -> str:
    """The first model the server lists at /v1/models."""
    models_url = url.rstrip("/").removesuffix("/v1") + "/v1/models"
    try:
        resp = httpx.get(models_url, headers=headers, timeout=30.0)
        resp.raise_for_status()
        return str(resp.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise BenchError(f"cannot list models at {models_url} ({exc}); pass --model") from None


def run_bench(
    url: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    concurrency: list[int] | tuple[int, ...] = (1, 4, 8),
    requests: int = 4,
    max_tokens: int = 64,
    prompts: list[str] | None = None,
    stream: bool = True,
    endpoint: str = "chat",
    template: str | None = None,
    timeout_s: float = 600.0,
    warmup: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Benchmark ``url`` (the server's base, e.g. http://127.0.0.1:8000) at each concurrency.

    Returns ``{"config": ..., "levels": [summary per concurrency]}``; every number is measured.
    ``endpoint`` is ``chat`` (/v1/chat/completions) or ``completions`` (/v1/completions, the
    prompt rendered client-side with ``template``, so servers with different chat templates
    see identical text). ``extra``: more fields of every request body (``logit_bias``, ...).
    """
    if endpoint not in ("chat", "completions"):
        raise ValueError(f"endpoint must be 'chat' or 'completions', not {endpoint!r}")
    if template is not None and template not in KNOWN_TEMPLATES:
        raise ValueError(f"template must be one of {sorted(KNOWN_TEMPLATES)}, not {template!r}")
    prompts = prompts or load_prompts()
    path = "/v1/chat/completions" if endpoint == "chat" else "/v1/completions"
    full_url = url.rstrip("/").removesuffix("/v1") + path
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if model is None:
        model = served_model(url, headers)
    bodies = [_body(model, p, max_tokens, stream, endpoint, template) for p in prompts]
    bodies = [{**b, **(extra or {})} for b in bodies]

    async def main() -> list[dict[str, Any]]:
        if warmup:  # first request pays for lazy loading and caches; not measured
            await _run_level(full_url, bodies[-1:], 1, 1, 8, headers, timeout_s)
        levels, offset = [], 0
        for c in concurrency:
            # every level gets prompts of its own: a server that caches prompts (llama-server
            # reuses a slot's KV for an identical prompt) must not see a repeat
            levels.append(
                await _run_level(
                    full_url, bodies, c, requests, max_tokens, headers, timeout_s, offset
                )
            )
            offset += c * requests
        return levels

    levels = asyncio.run(main())
    return {
        "config": {
            "url": full_url,
            "model": model,
            "concurrency": list(concurrency),
            "requests_per_client": requests,
            "max_tokens": max_tokens,
            "stream": stream,
            "endpoint": endpoint,
            "template": template,
            "prompts": len(prompts),
            "extra": extra or {},
        },
        "levels": levels,
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def format_table(result: dict[str, Any]) -> str:
    head = (
        f"{'clients':>7} {'reqs':>5} {'err':>4} {'incompl':>7} {'tok/s':>7} "
        f"{'stream tok/s':>12} {'e2e p50/p95/p99 ms':>20} {'ttft p50/p95/p99 ms':>20} "
        f"{'itl p50/p95/p99 ms':>19}"
    )
    lines = [head, "-" * len(head)]
    for lv in result["levels"]:
        e2e, tt, itl = lv["latency_s"], lv["ttft_s"], lv["itl_s"]
        ps = lv["per_stream_tokens_per_s"]["p50"]
        lines.append(
            f"{lv['concurrency']:>7} {lv['requests']:>5} {lv['errors']:>4} {lv['incomplete']:>7} "
            f"{lv['aggregate_tokens_per_s']:>7.1f} {('-' if ps is None else f'{ps:.1f}'):>12} "
            f"{'/'.join(_ms(e2e[k]) for k in ('p50', 'p95', 'p99')):>20} "
            f"{'/'.join(_ms(tt[k]) for k in ('p50', 'p95', 'p99')):>20} "
            f"{'/'.join(_ms(itl[k]) for k in ('p50', 'p95', 'p99')):>19}"
        )
    return "\n".join(lines)


def parse_concurrency(values: tuple[str, ...]) -> list[int]:
    out = []
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise click.BadParameter(
                    f"{part!r} is not a positive integer", param_hint="--concurrency"
                )
            out.append(int(part))
    return out or [1, 4, 8]


@click.command("bench")
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of an OpenAI-compatible server.",
)
@click.option("--model", default=None, help="Model name [the first one /v1/models lists].")
@click.option("--api-key", envvar="LEGAL_EDGE_API_KEY", default=None, help="Bearer key.")
@click.option(
    "--concurrency",
    "-c",
    multiple=True,
    default=("1,4,8",),
    show_default=True,
    help="Concurrent clients; repeat or give a comma list.",
)
@click.option(
    "--requests",
    "-n",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Requests per client.",
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--prompts",
    type=click.Path(path_type=Path),
    default=None,
    help="JSONL (prompt/instruction/question field) or text file, one prompt a line "
    "[legal Q&A instructions from ../shared/legal-data].",
)
@click.option("--stream/--no-stream", default=True, show_default=True)
@click.option(
    "--endpoint", type=click.Choice(["chat", "completions"]), default="chat", show_default=True
)
@click.option(
    "--template",
    type=click.Choice(sorted(KNOWN_TEMPLATES)),
    default=None,
    help="For --endpoint completions: render prompts with this chat template.",
)
@click.option(
    "--json-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the full results (per request) as JSON.",
)
def bench_command(
    url: str,
    model: str | None,
    api_key: str | None,
    concurrency: tuple[str, ...],
    requests: int,
    max_tokens: int,
    prompts: Path | None,
    stream: bool,
    endpoint: str,
    template: str | None,
    json_out: Path | None,
) -> None:
    """Load-test an OpenAI-compatible server: latency, TTFT, tokens/s, errors."""
    result = run_bench(
        url,
        model=model,
        api_key=api_key,
        concurrency=parse_concurrency(concurrency),
        requests=requests,
        max_tokens=max_tokens,
        prompts=load_prompts(prompts) if prompts else None,
        stream=stream,
        endpoint=endpoint,
        template=template,
    )
    click.echo(format_table(result))
    if json_out:
        atomic_write_json(json_out, result)
        click.echo(f"wrote {json_out}")
