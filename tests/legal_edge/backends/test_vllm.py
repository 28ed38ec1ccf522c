"""The vLLM backend.

Fast tests (any environment): the clear error when vLLM is missing, HF-directory models.
Slow test (CI too): the real server in its own environment (``.venv-vllm``, made once by
``./install.sh --vllm`` and reused) on Gemma-3-270M dequantized from the default GGUF, checked
through the API like a client: answers, streaming, stop strings, limits, admission control,
cancellation and metrics behave as with llama.cpp.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from legal_edge.backends import create_backend
from legal_edge.backends.base import BackendOptions
from legal_edge.cli import main
from legal_edge.models.manifest import ManifestError, ModelFile, ModelManifest, resolve_model
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from tests.conftest import MODELS_DIR
from tests.fixtures.vllm_server import HF_MODEL, log_tail


def _in_vllm_env() -> bool:
    from legal_edge.backends.vllm.backend import vllm_available

    return vllm_available()


def _fake_hf_dir(path: Path, model_type: str = "gemma3_text", **config: object) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(
        json.dumps({"model_type": model_type, "max_position_embeddings": 2048, **config})
    )
    return path


# -- fast ------------------------------------------------------------------------------------


@pytest.mark.skipif(_in_vllm_env(), reason="vLLM is installed in this environment")
def test_missing_vllm_is_a_clear_error(tmp_path: Path) -> None:
    manifest = resolve_model(str(_fake_hf_dir(tmp_path / "m")), tmp_path)
    with pytest.raises(ImportError, match=r"install\.sh --vllm"):
        create_backend("vllm", manifest, BackendOptions())
    # and from the command line, before anything binds a port
    result = CliRunner().invoke(
        main, ["serve", "--backend", "vllm", "--model", str(tmp_path / "m"), "--port", "1"]
    )
    assert result.exit_code != 0 and "needs vLLM" in result.output


def test_hf_directory_is_a_model(tmp_path: Path) -> None:
    hf = _fake_hf_dir(
        tmp_path / "qwen-gptq",
        model_type="qwen2",
        quantization_config={"quant_method": "gptq", "bits": 4},
    )
    m = resolve_model(str(hf), tmp_path)  # a bare HF directory, no manifest
    assert m.name == "qwen-gptq" and m.path_of("hf") == hf.resolve()
    assert m.context_length == 2048 and m.quantization == "gptq-4bit"
    assert "<|im_start|>" in m.chat_template  # ChatML for a non-Gemma model without a template
    m.verify_files()
    gemma = resolve_model(str(_fake_hf_dir(tmp_path / "g")), tmp_path)
    assert gemma.chat_template == GEMMA_CHAT_TEMPLATE and "<end_of_turn>" in gemma.stop
    (tmp_path / "g" / "tokenizer_config.json").write_text(json.dumps({"chat_template": "X{{1}}"}))
    assert resolve_model(str(tmp_path / "g"), tmp_path).chat_template == "X{{1}}"

    # a model directory whose manifest points at an HF directory elsewhere (role "hf")
    named = tmp_path / "models" / "legal-gptq"
    ModelManifest(
        name="legal-gptq",
        base_model="qwen",
        chat_template="{{1}}",
        files=[ModelFile(role="hf", path="../../qwen-gptq")],
    ).write(named)
    m = resolve_model("legal-gptq", tmp_path / "models")
    assert m.path_of("hf") == hf.resolve()
    m.verify_files()
    (hf / "config.json").unlink()
    with pytest.raises(ManifestError, match="no config.json"):
        m.verify_files()


def test_gguf_only_model_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """Checked before vLLM is imported, so it runs (and can fail) in every environment."""
    m = ModelManifest(
        name="g",
        base_model="g",
        chat_template="",
        files=[ModelFile(role="model", path="g.gguf")],
        directory=tmp_path,
    )
    with pytest.raises(ManifestError, match="gguf_to_hf"):
        create_backend("vllm", m, BackendOptions())


# -- slow: the real engine -------------------------------------------------------------------


@pytest.fixture
def server(vllm_url: str) -> str:
    return vllm_url


def _chat(url: str, content: str, **body: object) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        timeout=300,
        json={
            "model": HF_MODEL,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            **body,
        },
    )


QUESTION = "劳动合同解除需要提前多少天通知？"


@pytest.mark.slow
def test_answers_greedily_and_deterministically(server: str) -> None:
    r = _chat(server, QUESTION, max_tokens=24)
    assert r.status_code == 200, r.text
    body = r.json()
    text = body["choices"][0]["message"]["content"]
    assert text.strip() and body["model"] == HF_MODEL
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5 and 1 <= usage["completion_tokens"] <= 24
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert _chat(server, QUESTION, max_tokens=24).json()["choices"][0]["message"]["content"] == text


@pytest.mark.slow
def test_stream_equals_the_full_answer(server: str) -> None:
    full = _chat(server, QUESTION, max_tokens=16).json()
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    pieces, usage = [], None
    for chunk in client.chat.completions.create(
        model=HF_MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(pieces) == full["choices"][0]["message"]["content"]
    assert usage is not None and usage.completion_tokens == full["usage"]["completion_tokens"]


@pytest.mark.slow
def test_limits_and_stop_strings(server: str) -> None:
    r = _chat(server, "What is a contract?", max_tokens=5)
    assert r.json()["usage"]["completion_tokens"] == 5
    assert r.json()["choices"][0]["finish_reason"] == "length"
    text = _chat(server, "What is a contract?", max_tokens=32).json()["choices"][0]["message"][
        "content"
    ]
    cut = text.strip()[3:6]  # a piece of the greedy answer: the answer must end before it
    r = _chat(server, "What is a contract?", max_tokens=32, stop=[cut]).json()
    assert cut not in r["choices"][0]["message"]["content"]
    assert r["choices"][0]["finish_reason"] == "stop"
    # a prompt over the context is refused, never truncated
    r = _chat(server, "法 " * 1200, max_tokens=8)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def _gauges_in(text: str) -> tuple[float, float]:
    values = {}
    for name in ("running", "waiting"):
        m = re.search(rf'legal_edge_requests_{name}{{model="{HF_MODEL}"}} (\S+)', text)
        values[name] = float(m.group(1)) if m else -1.0
    return values["running"], values["waiting"]


async def _until_gauges(
    client: httpx.AsyncClient, want: tuple[float, float], within_s: float, seen: list[str]
) -> None:
    deadline = time.monotonic() + within_s
    while True:
        got = _gauges_in((await client.get("/metrics")).text)
        seen.append(f"{time.monotonic():.1f} {got}")
        if got == want:
            return
        assert time.monotonic() < deadline, (
            f"running/waiting never {want}; polled: {seen[-8:]}\n{log_tail()}"
        )
        await asyncio.sleep(0.2)


async def _fill_the_queue_then_overflow(url: str) -> list[int]:
    """n_parallel 2 + max_queue 1: two long streams run, a third waits, a fourth gets 503; then
    the streams are closed. One thread, one event loop: each stream is started only once the one
    before it is admitted (a CI run once saw the three start together and reach the server one
    after another), and each wait has its own bound."""
    statuses: list[int] = []
    stop = asyncio.Event()
    body = {
        "model": HF_MODEL,
        "prompt": "The court held that",
        "max_tokens": 1000,  # minutes on a CPU: still running when the queue is checked
        "temperature": 0,
        "stream": True,
    }

    async def hog() -> None:
        async with client.stream("POST", "/v1/completions", json=body) as r:
            statuses.append(r.status_code)
            async for _ in r.aiter_lines():
                if stop.is_set():
                    break  # closing the stream aborts the request in the engine

    seen: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        hogs = []
        try:
            for want in ((1.0, 0.0), (2.0, 0.0), (2.0, 1.0)):
                hogs.append(asyncio.create_task(hog()))
                await _until_gauges(client, want, 120, seen)
            t0 = time.monotonic()
            r = await client.post(
                "/v1/chat/completions",
                json={
                    "model": HF_MODEL,
                    "messages": [{"role": "user", "content": QUESTION}],
                    "max_tokens": 4,
                },
            )
            waited = time.monotonic() - t0
            assert r.status_code == 503 and r.json()["error"]["code"] == "server_overloaded", (
                f"{r.status_code} after {waited:.1f} s\n{log_tail()}"
            )
            assert int(r.headers["Retry-After"]) >= 1
        finally:
            stop.set()
            done, pending = await asyncio.wait(hogs, timeout=120)
            for task in pending:
                task.cancel()
        for task in done:
            task.result()  # a hog's own error fails the test here
        assert not pending, f"{len(pending)} streams did not end after being closed"
        # the closed streams were aborted: nothing runs any more (not 1,000 tokens each)
        await _until_gauges(client, (0.0, 0.0), 30, seen)
    return statuses


@pytest.mark.slow
def test_queue_full_cancellation_and_metrics(server: str) -> None:
    statuses = asyncio.run(_fill_the_queue_then_overflow(server))
    assert statuses == [200, 200, 200]  # the waiting one ran once a slot was free
    r = _chat(server, QUESTION, max_tokens=4)
    assert r.status_code == 200, r.text
    metrics = httpx.get(server + "/metrics").text
    assert 'status="503"' in metrics and 'status="200"' in metrics


@pytest.mark.slow
def test_unknown_engine_option_is_named(vllm_env: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from legal_edge.backends import create_backend\n"
        "from legal_edge.backends.base import BackendOptions\n"
        "from legal_edge.models.manifest import resolve_model\n"
        f"m = resolve_model({HF_MODEL!r}, {str(MODELS_DIR)!r})\n"
        "b = create_backend('vllm', m, BackendOptions(extra={'tensor_paralel_size': 2}))\n"
        "try:\n"
        "    asyncio.run(b.start())\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    out = subprocess.run(
        [str(vllm_env / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 3, out.stdout + out.stderr[-2000:]
    assert "'tensor_paralel_size' is not a vLLM engine argument" in out.stdout
