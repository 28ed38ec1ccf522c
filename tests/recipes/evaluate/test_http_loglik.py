"""Log-likelihood scoring through a live server (``http`` backend: ``/v1/completions`` with
echo + logprobs + max_tokens 0) agrees with llama.cpp in-process (``gguf`` backend) on the same
GGUF; a server that cannot score prompts, or does not say its template, is a clear error."""

from __future__ import annotations

import dataclasses

import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from recipes.evaluate.backends import BackendError
from recipes.evaluate.backends.gguf import GGUFBackend
from recipes.evaluate.backends.http import HTTPBackend
from recipes.evaluate.items import load_mcq_jsonl
from recipes.evaluate.mcq import ANSWER_PREFIX, candidates, messages_for, predict
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import echo_manifest

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def questions(legal_data):
    items = load_mcq_jsonl(legal_data / "mcq/jecqa_train.jsonl").items
    short = [it for it in items if len(it.data["question"]) < 80]
    return short[:6] + [it for it in short if it.data["kind"] != "single"][:2]


def test_http_scores_as_gguf_does_on_the_same_model(tiny_gguf, questions):
    from recipes.evaluate import ModelSpec

    spec = ModelSpec(name="m", path=str(tiny_gguf), n_ctx=2048, n_threads=1)
    local = GGUFBackend.from_spec(spec)
    settings = Settings(model=str(tiny_gguf), n_threads=1, n_parallel=2, n_ctx=2048)
    try:
        with live_server(create_app(settings), timeout=60) as url:
            remote = HTTPBackend.from_spec(dataclasses.replace(spec, backend="http", url=url))
            assert remote.supports_loglik
            spread = 0.0
            for it in questions:
                msgs, cands = messages_for(it, questions[:1]), candidates(it)
                here = local.loglikelihoods(msgs, cands, prefill=ANSWER_PREFIX)
                there = remote.loglikelihoods(msgs, cands, prefill=ANSWER_PREFIX)
                assert there == pytest.approx(here, rel=1e-3, abs=1e-2), it.id
                assert max(range(len(cands)), key=here.__getitem__) == max(
                    range(len(cands)), key=there.__getitem__
                )
                spread = max(spread, max(here) - min(here))
                # the whole prediction record, as the evaluation writes it
                kw = dict(modes=("loglik",), shots=[], max_tokens=4)
                assert (
                    predict(remote, it, **kw)["loglik"]["pred"]
                    == (predict(local, it, **kw)["loglik"]["pred"])
                )
            assert spread > 0.5  # the options really differ: agreeing argmaxes mean something
            assert remote.template_source == "server"
            assert remote.describe()["chat_template"] == "server"
            remote.close()
    finally:
        local.close()


class NoPromptLogprobs(EchoBackend):
    """A server whose backend returns generated tokens' logprobs only."""

    features = frozenset({"logprobs"})


def _echo_server(backend_cls, template: str = "gemma-from-manifest"):
    manifest = echo_manifest("echo-model")
    if template != "gemma-from-manifest":
        manifest = dataclasses.replace(manifest, chat_template=template)
    backend = backend_cls(manifest, BackendOptions(n_ctx=256))
    return live_server(create_app(Settings(backend="echo"), backend=backend))


MSGS = [{"role": "user", "content": "合同 无效 吗"}]


def test_a_server_without_prompt_logprobs_is_a_clear_error():
    with _echo_server(NoPromptLogprobs) as url:
        remote = HTTPBackend(url)
        with pytest.raises(BackendError, match=r"echo.*modes: \[generate\]") as err:
            remote.loglikelihoods(MSGS, ["A", "B"], prefill=ANSWER_PREFIX)
        assert url in str(err.value) and "400" in str(err.value)
        assert remote.generate(MSGS, 3) == "合同 无效 吗"  # generation still works
        remote.close()


def test_the_template_comes_from_the_config_or_the_server(monkeypatch):
    with _echo_server(EchoBackend, template="") as url:
        remote = HTTPBackend(url)  # the server publishes no template and has no /props
        with pytest.raises(BackendError, match="set chat_template"):
            remote.loglikelihoods(MSGS, ["A"])
        remote.close()
        configured = HTTPBackend(url, chat_template="gemma")
        # the echo backend scores every word 0: the answer's word is found after the prompt
        assert configured.loglikelihoods(MSGS, [" A", " B"]) == [0.0, 0.0]
        assert configured.template_source == "config"
        configured.close()
