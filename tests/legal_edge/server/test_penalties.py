"""Repetition controls: OpenAI's ``frequency_penalty`` / ``presence_penalty`` through the real
``openai`` SDK against the llama.cpp backend on the tiny GGUF, and a model's manifest defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import openai
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.models.manifest import ManifestError, ModelManifest, gguf_manifest
from legal_edge.server.app import create_app
from legal_edge.server.generation import sampling_params
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server

pytest.importorskip("llama_cpp")

from legal_edge.backends.llamacpp.backend import LlamaCppBackend  # noqa: E402
from tests.legal_edge.backends.test_llamacpp import (  # noqa: E402
    HOG,
    collect,
    request,
    run_with,
    text_of,
)

# The manifest's default, which a request's own value overrides.
DEFAULTS = {"frequency_penalty": 1.5, "repeat_last_n": -1}


@pytest.fixture(scope="module")
def served(tiny_gguf: Path):
    manifest = dataclasses.replace(gguf_manifest(tiny_gguf), generation=DEFAULTS)
    backend = LlamaCppBackend(manifest, BackendOptions(n_threads=1, n_parallel=2, n_ctx=512))
    app = create_app(Settings(model=str(tiny_gguf)), backend=backend)
    with live_server(app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        yield client, manifest.name


def complete(served, **params) -> str:  # type: ignore[no-untyped-def]
    client, model = served
    r = client.completions.create(model=model, prompt=HOG, max_tokens=48, temperature=0, **params)
    return r.choices[0].text


def test_a_penalty_changes_a_repetitive_generation(served) -> None:
    plain = complete(served, frequency_penalty=0, presence_penalty=0)
    # the fixture model repeats itself greedily: a stretch of text comes back within 48 tokens
    grams = [plain[i : i + 3] for i in range(len(plain) - 2)]
    assert len(set(grams)) < len(grams), plain
    assert complete(served, frequency_penalty=1.5) != plain
    assert complete(served, frequency_penalty=0, presence_penalty=1.5) != plain


def test_penalties_at_temperature_zero_are_deterministic(served) -> None:
    first = complete(served, frequency_penalty=0.8, presence_penalty=0.4)
    assert complete(served, frequency_penalty=0.8, presence_penalty=0.4) == first


def test_the_manifest_default_applies_unless_the_request_says(served) -> None:
    assert complete(served) == complete(served, frequency_penalty=1.5)
    assert complete(served) != complete(served, frequency_penalty=0)


@pytest.mark.parametrize("field", ["frequency_penalty", "presence_penalty"])
@pytest.mark.parametrize("value", [2.5, -3])
def test_out_of_range_penalty_is_400_naming_the_field(served, field: str, value: float) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        complete(served, **{field: value})
    assert exc.value.param == field
    assert field in str(exc.value)


def test_request_fields_override_manifest_defaults(tiny_gguf: Path) -> None:
    manifest = dataclasses.replace(
        gguf_manifest(tiny_gguf),
        generation={"temperature": 0.0, "repeat_penalty": 1.3, "presence_penalty": 0.5},
    )
    req = ChatCompletionRequest(model="m", messages=[], presence_penalty=0.0, top_p=0.9)
    p = sampling_params(req, manifest, 64)
    assert (p.temperature, p.top_p, p.presence_penalty, p.repeat_penalty) == (0.0, 0.9, 0.0, 1.3)
    assert p.max_tokens == 64 and p.penalised


@pytest.mark.parametrize(
    "generation,message",
    [
        ({"repeat_penaltyy": 1.1}, "unknown generation key 'repeat_penaltyy'"),
        ({"repeat_last_n": 1.5}, "generation.repeat_last_n must be int"),
        ({"dry_multiplier": -1}, r"generation.dry_multiplier=-1 is outside"),
        ({"temperature": "hot"}, "generation.temperature must be float"),
    ],
)
def test_bad_generation_section_names_the_key(
    tiny_gguf: Path, generation: dict, message: str
) -> None:
    data = {**gguf_manifest(tiny_gguf).to_dict(), "generation": generation}
    with pytest.raises(ManifestError, match=message):
        ModelManifest.from_dict(data)


def test_end_bias_ends_a_run_on_answer_after_its_start(tiny_gguf: Path) -> None:
    """HOG never ends by itself; with the end-of-turn bias it ends soon after ``after``."""

    async def scenario(backend: LlamaCppBackend) -> list[list]:  # type: ignore[type-arg]
        return [
            await collect(backend, request(HOG, 200, **params))
            for params in ({}, {"end_bias": 5.0, "end_bias_after": 20}, {"end_bias": 5.0})
        ]

    plain, biased, late = run_with(tiny_gguf, scenario)
    assert plain[-1].finish_reason == "length"
    assert biased[-1].finish_reason == "stop" and 20 <= biased[-1].completion_tokens < 60
    assert text_of(biased).startswith(text_of(plain)[:10])  # before the start: unchanged
    assert late[-1].finish_reason == "length"  # 200 tokens < the default start (256)


def test_the_echo_backend_accepts_penalties() -> None:
    from litestar.testing import TestClient

    from legal_edge.backends.echo import EchoBackend
    from tests.legal_edge.server.test_api import MODEL, manifest

    backend = EchoBackend(manifest(256), BackendOptions(n_ctx=256))
    with TestClient(create_app(Settings(backend="echo"), backend=backend)) as c:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "合同 无效"}]}
        r = c.post(
            "/v1/chat/completions", json={**body, "frequency_penalty": 0.5, "presence_penalty": -1}
        )
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "合同 无效"
