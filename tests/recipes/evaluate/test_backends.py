"""The same model in different forms gives the same answers: llama.cpp (GGUF), transformers
(the same GGUF dequantized) and our own server over HTTP; plus the KV-cache reuse is exact."""

import json
import time

import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from recipes.evaluate.backends import BackendError
from recipes.evaluate.backends.gguf import GGUFBackend
from recipes.evaluate.backends.http import HTTPBackend
from recipes.evaluate.items import load_mcq_jsonl
from recipes.evaluate.mcq import candidates, messages_for


@pytest.fixture(scope="module")
def real_questions(legal_data):
    items = load_mcq_jsonl(legal_data / "mcq/jecqa_train.jsonl").items
    return [it for it in items if len(it.data["question"]) < 60][:4]


@pytest.fixture(scope="module")
def gguf(tiny_gguf):
    backend = GGUFBackend(
        tiny_gguf,
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
        n_ctx=2048,
        n_threads=1,
    )
    yield backend
    backend.close()


def test_kv_cache_reuse_is_exact(tiny_gguf, gguf, real_questions):
    fresh = GGUFBackend(tiny_gguf, chat_template=GEMMA_CHAT_TEMPLATE, n_ctx=2048, n_threads=1)
    try:
        for it in real_questions:  # the shared backend has other prompts cached in between
            msgs = messages_for(it, real_questions[-1:])
            cands = candidates(it)
            fresh._truncate(0)
            expected = fresh.loglikelihoods(msgs, cands)
            got = gguf.loglikelihoods(msgs, cands)
            assert got == pytest.approx(expected, abs=1e-4)
            assert gguf.loglikelihoods(msgs, cands) == pytest.approx(got, abs=1e-6)
            fresh._truncate(0)
            assert gguf.generate(msgs, 6) == fresh.generate(msgs, 6)
    finally:
        fresh.close()


def test_gguf_and_transformers_agree(tiny_gguf, gguf, real_questions):
    from recipes.evaluate.backends.hf import HFBackend

    hf = HFBackend(
        tiny_gguf, chat_template=GEMMA_CHAT_TEMPLATE, stop=["<end_of_turn>"], n_threads=1
    )
    for it in real_questions:
        msgs = messages_for(it, [])
        cands = candidates(it)
        a, b = gguf.loglikelihoods(msgs, cands), hf.loglikelihoods(msgs, cands)
        assert b == pytest.approx(a, rel=2e-3, abs=2e-3)
        assert max(range(len(cands)), key=a.__getitem__) == max(
            range(len(cands)), key=b.__getitem__
        )
        # Greedy continuations: compare token ids (a random model emits stray byte tokens, which
        # the two detokenizers render differently: llama.cpp keeps valid bytes, HF writes U+FFFD).
        prompt_len = len(gguf.tokenize(gguf.render(msgs), bos=True))
        gguf.generate(msgs, 6)
        gguf_ids = gguf._cached[prompt_len:]
        ids = hf.torch.tensor([hf._ids(hf.render(msgs), special=True)])
        hf_ids = hf.model.generate(input_ids=ids, max_new_tokens=6, do_sample=False)[
            0, ids.shape[1] :
        ]
        assert hf_ids.tolist()[: len(gguf_ids)] == gguf_ids and len(gguf_ids) >= 5


def test_gguf_and_our_server_agree(tiny_gguf, real_questions):
    from legal_edge.server.app import create_app
    from legal_edge.settings.server import Settings
    from tests.fixtures.live_server import live_server

    local = GGUFBackend.from_spec(_spec(str(tiny_gguf)))
    settings = Settings(model=str(tiny_gguf), n_threads=1, n_parallel=1, n_ctx=2048)
    try:
        with live_server(create_app(settings), timeout=60) as url:
            remote = HTTPBackend(url)
            for it in real_questions:
                msgs = messages_for(it, [])
                assert remote.generate(msgs, 8) == local.generate(msgs, 8)
            remote.close()
    finally:
        local.close()


def test_http_down_fails_fast_naming_the_url():
    start = time.monotonic()
    with pytest.raises(BackendError, match=r"http://127\.0\.0\.1:9"):
        HTTPBackend("http://127.0.0.1:9/v1", timeout_s=3)
    assert time.monotonic() - start < 10


def test_missing_files_are_named(tmp_path):
    with pytest.raises(BackendError, match="nope.gguf"):
        GGUFBackend(tmp_path / "nope.gguf", chat_template=GEMMA_CHAT_TEMPLATE)


def _spec(path, **kw):
    from recipes.evaluate import ModelSpec

    return ModelSpec(name="m", path=path, n_ctx=2048, n_threads=1, **kw)


def test_manifest_template_and_adapter_come_from_the_model_dir(tmp_path, tiny_gguf):
    from legal_edge.models.manifest import gguf_manifest

    manifest = gguf_manifest(tiny_gguf, chat_template=GEMMA_CHAT_TEMPLATE, stop=["<end_of_turn>"])
    manifest.files[0].path = str(tiny_gguf)
    manifest.write(tmp_path)
    backend = GGUFBackend.from_spec(_spec(str(tmp_path)))
    try:
        assert backend.stop == ["<end_of_turn>"] and backend.template == GEMMA_CHAT_TEMPLATE
        assert json.loads((tmp_path / "manifest.json").read_text())["name"]
    finally:
        backend.close()
