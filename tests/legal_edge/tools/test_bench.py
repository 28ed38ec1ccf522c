"""``legal-edge bench`` against real servers: ours on the tiny GGUF, and a broken one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from legal_edge.backends.base import BackendOptions
from legal_edge.models.manifest import gguf_manifest
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from legal_edge.tools.bench import (
    BenchError,
    bench_command,
    format_table,
    load_prompts,
    parse_concurrency,
    percentiles,
    run_bench,
)
from tests.fixtures.live_server import live_server


@pytest.fixture(scope="module")
def tiny_server(tiny_gguf: Path):
    pytest.importorskip("llama_cpp")
    from legal_edge.backends.llamacpp.backend import LlamaCppBackend

    manifest = gguf_manifest(tiny_gguf)
    backend = LlamaCppBackend(manifest, BackendOptions(n_threads=1, n_parallel=2, n_ctx=2048))
    app = create_app(Settings(backend="llamacpp", model=str(tiny_gguf)), backend=backend)
    with live_server(app) as url:
        yield url, manifest.name


def test_streaming_bench_on_the_real_server(tiny_server: tuple[str, str], legal_data: Path) -> None:
    url, name = tiny_server
    result = run_bench(url, concurrency=[1, 2], requests=2, max_tokens=12)
    assert result["config"]["model"] == name  # found through /v1/models
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 2]
    for level in result["levels"]:
        assert level["requests"] == level["concurrency"] * 2
        assert level["errors"] == 0 and level["incomplete"] == 0 and level["usage_missing"] == 0
        rows = level["results"]
        assert level["completion_tokens"] == sum(r["completion_tokens"] for r in rows) > 0
        assert all(0 < r["completion_tokens"] <= 12 for r in rows)
        assert all(r["finish_reason"] in ("stop", "length") for r in rows)
        assert all(r["ttft_s"] is not None and r["ttft_s"] <= r["latency_s"] for r in rows)
        assert level["aggregate_tokens_per_s"] == pytest.approx(
            level["completion_tokens"] / level["wall_s"]
        )
        assert level["ttft_s"]["p50"] <= level["ttft_s"]["p99"]
    table = format_table(result)
    assert table.splitlines()[0].split()[0] == "clients" and len(table.splitlines()) == 4


def test_non_streaming_completions_endpoint(tiny_server: tuple[str, str]) -> None:
    url, name = tiny_server
    result = run_bench(
        url,
        model=name,
        concurrency=[2],
        requests=1,
        max_tokens=8,
        stream=False,
        endpoint="completions",
        template="gemma",
        prompts=["合同无效的情形有哪些？"],
    )
    level = result["levels"][0]
    assert level["errors"] == 0 and level["incomplete"] == 0
    assert level["completion_tokens"] > 0


def test_extra_fields_go_into_every_request(tiny_server: tuple[str, str]) -> None:
    url, name = tiny_server
    run = dict(model=name, concurrency=[2], requests=1, max_tokens=4, prompts=["合同"])
    # a field the server checks: out of range, every request is refused with its name
    bad = run_bench(url, extra={"logit_bias": {"5": -1000}}, **run)  # type: ignore[arg-type]
    level = bad["levels"][0]
    assert level["errors"] == level["requests"] == 2
    assert "logit_bias" in level["error_samples"][0]
    assert bad["config"]["extra"] == {"logit_bias": {"5": -1000}}
    good = run_bench(url, extra={"logit_bias": {"5": -100}}, **run)  # type: ignore[arg-type]
    assert good["levels"][0]["errors"] == 0


def test_errors_and_unknown_model_are_counted(tiny_server: tuple[str, str]) -> None:
    url, _ = tiny_server
    result = run_bench(
        url,
        model="no-such-model",
        concurrency=[1],
        requests=2,
        max_tokens=4,
        prompts=["x"],
        warmup=False,
    )
    level = result["levels"][0]
    assert level["errors"] == 2 and level["completion_tokens"] == 0
    assert "HTTP 404" in level["error_samples"][0]


async def _broken_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An OpenAI-ish server that cuts every stream short: no finish reason, no [DONE]."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/ready":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for word in ("partial ", "answer"):
        chunk = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        body = f"data: {json.dumps(chunk)}\n\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_cut_streams_are_incomplete() -> None:
    with live_server(_broken_app, ready_path="/ready") as url:
        result = run_bench(
            url, model="m", concurrency=[2], requests=1, max_tokens=16, prompts=["x"], warmup=False
        )
    level = result["levels"][0]
    assert level["errors"] == 0 and level["incomplete"] == 2 and level["usage_missing"] == 2
    assert all(len(r["itl_s"]) == 1 for r in level["results"])  # two content chunks each
    assert level["completion_tokens"] == 4  # no usage: counted as chunks


def test_prompts_shipped_and_from_files(legal_data: Path, tmp_path: Path) -> None:
    prompts = load_prompts(limit=10)  # shipped in the package: no source tree needed
    assert len(prompts) == 10 and all(p.strip() for p in prompts)
    shared = load_prompts(legal_data / "qa" / "lawyer_llama_single_turn.jsonl", limit=5)
    assert len(shared) == 5 and set(shared).isdisjoint(prompts)
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"instruction": "ok"}\n{not json\n', encoding="utf-8")
    with pytest.raises(BenchError, match=r"p\.jsonl:2"):
        load_prompts(bad)
    text = tmp_path / "p.txt"
    text.write_text("first\n\nsecond\n", encoding="utf-8")
    assert load_prompts(text) == ["first", "second"]


def test_percentiles_and_concurrency_parsing() -> None:
    p = percentiles([float(i) for i in range(1, 101)])
    assert (p["p50"], p["p95"], p["p99"]) == (50.0, 95.0, 99.0)
    assert percentiles([])["p95"] is None
    assert parse_concurrency(("1,4", "8")) == [1, 4, 8]
    with pytest.raises(Exception, match="positive"):
        parse_concurrency(("0",))


def test_cli_writes_json(tiny_server: tuple[str, str], tmp_path: Path) -> None:
    url, _ = tiny_server
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("劳动合同可以随时解除吗？\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(
        bench_command,
        [
            "--url",
            url,
            "-c",
            "1",
            "-n",
            "1",
            "--max-tokens",
            "4",
            "--prompts",
            str(prompts),
            "--json-out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "clients" in res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["levels"][0]["requests"] == 1
    assert CliRunner().invoke(bench_command, ["--help"]).exit_code == 0
