"""The vLLM backend.

Fast tests (any environment): the clear error when vLLM is missing, HF-directory models.
Slow test (CI too): the real server in its own environment (``.venv-vllm``, made once by
``./install.sh --vllm`` and reused) on Gemma-3-270M dequantized from the default GGUF, checked
through the API like a client: answers, streaming, stop strings, limits, admission control,
cancellation and metrics behave as with llama.cpp.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from legal_edge.backends import create_backend
from legal_edge.backends.base import BackendOptions
from legal_edge.cli import main
from legal_edge.manifest import ManifestError, ModelFile, ModelManifest, resolve_model
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from tests.conftest import MODELS_DIR
from tests.fixtures.vllm_server import HF_MODEL, log_tail


def _in_vllm_env() -> bool:
    from legal_edge.backends.vllm import vllm_available

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


def _gauges(url: str) -> tuple[float, float]:
    text = httpx.get(url + "/metrics").text
    values = {}
    for name in ("running", "waiting"):
        m = re.search(rf'legal_edge_requests_{name}{{model="{HF_MODEL}"}} (\S+)', text)
        values[name] = float(m.group(1)) if m else -1.0
    return values["running"], values["waiting"]


@pytest.mark.slow
def test_queue_full_cancellation_and_metrics(server: str) -> None:
    # n_parallel 2 + max_queue 1: two long streams run, a third waits, a fourth gets 503.
    stop = threading.Event()
    statuses: list[int] = []

    def hog() -> None:
        body = {
            "model": HF_MODEL,
            "prompt": "The court held that",
            "max_tokens": 900,
            "temperature": 0,
            "stream": True,
        }
        with httpx.stream("POST", server + "/v1/completions", timeout=300, json=body) as r:
            statuses.append(r.status_code)
            for _ in r.iter_lines():
                if stop.is_set():
                    break  # closing the stream aborts the request in the engine

    threads = [threading.Thread(target=hog) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while _gauges(server) != (2.0, 1.0):
            assert time.monotonic() < deadline, f"running/waiting: {_gauges(server)}"
            time.sleep(0.2)
        t0 = time.monotonic()
        r = _chat(server, QUESTION, max_tokens=4)
        waited = time.monotonic() - t0
        assert r.status_code == 503 and r.json()["error"]["code"] == "server_overloaded", (
            f"{r.status_code} after {waited:.1f} s, gauges {_gauges(server)}\n{log_tail()}"
        )
        assert int(r.headers["Retry-After"]) >= 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert statuses == [200, 200, 200]  # the waiting one ran once a slot was free
    # the closed streams were aborted: nothing runs any more (not 900 tokens each)
    deadline = time.monotonic() + 30
    while _gauges(server) != (0.0, 0.0):
        assert time.monotonic() < deadline, f"running/waiting: {_gauges(server)}"
        time.sleep(0.2)
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
        "from legal_edge.manifest import resolve_model\n"
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
