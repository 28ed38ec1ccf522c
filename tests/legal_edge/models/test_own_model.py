"""An office's own model (docs/your-own-model.md): ``legal-edge models add`` on a model of
another architecture and tokenizer (a tiny random-weight Qwen2 GGUF carrying Qwen2.5's real chat
template), then served through llama.cpp: grounded (citations), structured output, tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.cli import main
from legal_edge.models.manifest import ManifestError, ModelManifest, resolve_model
from legal_edge.models.own import add_model
from legal_edge.prompts import render_chat
from tests.fixtures.tiny_qwen2 import QWEN25_TEMPLATE, write_tiny_qwen2

llama_cpp = pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def qwen_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_qwen2(tmp_path_factory.mktemp("own") / "tiny-qwen2-q.gguf")


def test_add_a_gguf_takes_its_template_and_turn_end(qwen_gguf: Path, tmp_path: Path) -> None:
    m = add_model(qwen_gguf, tmp_path / "models", "office-qwen", statutes_index="none")
    assert m.chat_template == QWEN25_TEMPLATE and m.stop == ["<|im_end|>"]
    assert m.generation is None  # the file says nothing: the server's defaults
    assert m.statutes_index is None and m.base_model == "tiny-qwen2"
    # the file stays where it is; the manifest names it and is what serve resolves by name
    assert resolve_model("office-qwen", tmp_path / "models").model_path == qwen_gguf.resolve()
    m.verify_files(check_hash=True)
    with pytest.raises(ManifestError, match="--force"):
        add_model(qwen_gguf, tmp_path / "models", "office-qwen")


def test_generation_defaults_from_the_gguf_and_the_options(tmp_path: Path) -> None:
    gguf = write_tiny_qwen2(
        tmp_path / "s.gguf", sampling={"temp": 0.7, "top_p": 0.8, "penalty_repeat": 1.05}
    )
    m = add_model(gguf, tmp_path / "models", "a", generation={"top_p": 0.9})
    assert m.generation == pytest.approx({"temperature": 0.7, "top_p": 0.9, "repeat_penalty": 1.05})
    with pytest.raises(ManifestError, match="temperature"):
        add_model(gguf, tmp_path / "models", "b", generation={"temperature": 9.0})


def test_a_model_without_a_template_needs_one_given(tmp_path: Path) -> None:
    bare = write_tiny_qwen2(tmp_path / "bare.gguf", chat_template=None)
    with pytest.raises(ManifestError, match="--chat-template"):
        add_model(bare, tmp_path / "models", "bare")
    template = tmp_path / "t.jinja"
    template.write_text(QWEN25_TEMPLATE, encoding="utf-8")
    m = add_model(bare, tmp_path / "models", "bare", chat_template=template)
    assert m.chat_template == QWEN25_TEMPLATE and m.stop == ["<|im_end|>"]


def test_the_statute_index_beside_the_models_folder_is_the_default(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    assert add_model(qwen_gguf, models, "plain").statutes_index is None  # none built yet
    index = tmp_path / "runs" / "index" / "statutes"
    index.mkdir(parents=True)
    (index / "index.sqlite3").write_bytes(b"")
    m = add_model(qwen_gguf, models, "grounded")
    assert m.statutes_index == "../runs/index/statutes"


def test_add_an_hf_directory_for_vllm(tmp_path: Path) -> None:
    hf = tmp_path / "Qwen2.5-7B-Instruct"
    hf.mkdir()
    config = {"model_type": "qwen2", "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}
    (hf / "config.json").write_text(json.dumps(config))
    (hf / "tokenizer_config.json").write_text(json.dumps({"chat_template": QWEN25_TEMPLATE}))
    gen = {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}
    (hf / "generation_config.json").write_text(json.dumps(gen))
    m = add_model(hf, tmp_path / "models", "qwen7b", statutes_index="none")
    assert m.file("hf") is not None and m.path_of("hf") == hf.resolve()
    assert m.chat_template == QWEN25_TEMPLATE and m.stop == ["<|im_end|>"]
    assert m.generation == pytest.approx({"temperature": 0.7, "top_p": 0.8, "repeat_penalty": 1.05})
    assert m.context_length == 32768
    m.verify_files()


def test_cli_add(qwen_gguf: Path, tmp_path: Path) -> None:
    args = ["models", "add", str(qwen_gguf), "--name", "q", "--models-dir", str(tmp_path)]
    r = CliRunner().invoke(main, [*args, "--temperature", "0.3", "--statutes-index", "none"])
    assert r.exit_code == 0, r.output
    assert "--model q" in r.output and "not grounded" in r.output
    assert ModelManifest.read(tmp_path / "q").generation == {"temperature": 0.3}
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--force" in again.output


# -- served end to end: llama.cpp, grounded, structured output, tools ------------------------

from tests.fixtures.statute_index import small_statute_index  # noqa: E402, F401


@pytest.fixture(scope="module")
def served(
    qwen_gguf: Path,
    small_statute_index: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, str]]:
    import openai

    from legal_edge.server.app import create_app, load_runtime
    from legal_edge.settings.server import Settings
    from tests.fixtures.live_server import live_server

    models = tmp_path_factory.mktemp("models")
    add_model(qwen_gguf, models, "office-qwen", statutes_index=str(small_statute_index))
    settings = Settings(
        model="office-qwen",
        models_dir=models,
        n_threads=1,
        n_parallel=2,
        n_ctx=2048,
        grounding_min_score=1.0,  # the small slice's BM25 scale
    )
    with live_server(create_app(settings, runtimes=[load_runtime(settings)])) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0), url


THEFT = "盗窃公私财物数额较大的，刑法怎么处罚？"


@pytest.mark.slow
def test_served_grounded_with_citations(served: tuple[Any, str], qwen_gguf: Path) -> None:
    client, _ = served
    card = client.models.retrieve("office-qwen")
    assert card.model_extra["metadata"]["chat_template"] == QWEN25_TEMPLATE
    r = client.chat.completions.create(
        model="office-qwen",
        messages=[{"role": "user", "content": THEFT}],
        max_tokens=16,
        temperature=0,
    )
    citations = r.model_extra["citations"]
    given = [c for c in citations if c["given"] is not None]
    assert given and any(c["law"] == "中华人民共和国刑法" for c in given), citations
    ungrounded = client.chat.completions.create(
        model="office-qwen",
        messages=[{"role": "user", "content": THEFT}],
        max_tokens=4,
        extra_body={"grounding": False},
    )
    # the article block made the grounded prompt longer than Qwen's system turn + the question
    plain = render_chat(QWEN25_TEMPLATE, [{"role": "user", "content": THEFT}])
    assert ungrounded.usage.prompt_tokens < r.usage.prompt_tokens
    vocab = open_llama(str(qwen_gguf), vocab_only=True)
    expected = vocab.tokenize(plain.encode(), add_bos=False, special=True)
    assert ungrounded.usage.prompt_tokens == len(expected)  # rendered with Qwen's own template


@pytest.mark.slow
def test_served_structured_output_follows_the_schema(served: tuple[Any, str]) -> None:
    client, _ = served
    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["A", "B", "C", "D"]}, "amount": {"type": "integer"}},
        "required": ["answer", "amount"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model="office-qwen",
        messages=[{"role": "user", "content": "选出正确答案并给出金额。"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        max_tokens=64,
        temperature=0,
        extra_body={"grounding": False},
    )
    assert r.choices[0].finish_reason == "stop"
    data = json.loads(r.choices[0].message.content)
    assert set(data) == {"answer", "amount"} and data["answer"] in "ABCD"
    assert isinstance(data["amount"], int)


@pytest.mark.slow
def test_served_tool_call_through_qwens_template(served: tuple[Any, str]) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    from tests.fixtures.client_checks import check_bind_tools_round_trip

    _, url = served
    llm = ChatOpenAI(
        base_url=url + "/v1", api_key="none", model="office-qwen", max_tokens=150, temperature=0
    )
    check_bind_tools_round_trip(llm)
