"""The prompt's own log-probabilities (completions ``echo`` + ``logprobs``, ``max_tokens: 0``)
through the real ``openai`` SDK against a real server on the tiny GGUF, checked against
llama.cpp's own full-logits evaluation of the same tokens; the echo backend for the shapes and
a backend without the capability for the 400."""

from __future__ import annotations

import codecs

import httpx
import numpy as np
import openai
import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.tiny_server import tiny_server
from tests.legal_edge.helpers import echo_manifest, wait_ready

pytest.importorskip("llama_cpp")

# Long enough to be decoded in several _LOGIT_ROWS pieces; control tokens, merged English
# pieces and Chinese characters that fall back to byte tokens in the tiny vocabulary.
PROMPT = (
    "<start_of_turn>user\n"
    + "the court held that the contract was void. 法院认为，被告应当承担违约责任。" * 8
    + "<end_of_turn>\n<start_of_turn>model\n答案：A"
)


@pytest.fixture(scope="module")
def served(tiny_gguf):
    with tiny_server(tiny_gguf, n_parallel=2) as (url, name, backend):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        yield client, url, name, backend


def reference_logprobs(gguf, prompt: str) -> tuple[list[int], np.ndarray]:
    """llama.cpp's own answer: the whole prompt decoded with logits for every position, one
    sequence, no server; row i is the log-softmax after token i."""
    from legal_edge.backends.llamacpp.cpu_mode import open_llama

    llm = open_llama(gguf, n_ctx=2048, n_batch=512, n_threads=1, logits_all=True)
    try:
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llm.eval(tokens)
        scores = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    finally:
        llm.close()
    scores -= scores.max(axis=1, keepdims=True)
    return tokens, scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def test_prompt_logprobs_are_llama_cpps_full_logits(served, tiny_gguf):
    client, _, name, _ = served
    r = client.completions.create(model=name, prompt=PROMPT, echo=True, logprobs=3, max_tokens=0)
    choice, lp = r.choices[0], r.choices[0].logprobs
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert r.usage.completion_tokens == 0
    tokens, lsm = reference_logprobs(tiny_gguf, PROMPT)
    assert len(tokens) > 300 and r.usage.prompt_tokens == len(tokens) == len(lp.tokens)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    expected = [lsm[i - 1, tokens[i]] for i in range(1, len(tokens))]
    assert lp.token_logprobs[1:] == pytest.approx(expected, rel=1e-3, abs=5e-3)
    for i in range(1, len(tokens)):  # the 3 most likely next tokens, as llama.cpp ranks them
        best = np.sort(lsm[i - 1])[::-1][:3]
        # keyed by text: two byte tokens that both read U+FFFD share one key
        tops = sorted(lp.top_logprobs[i].values(), reverse=True)
        assert tops[0] == pytest.approx(best[0], rel=1e-3, abs=5e-3)
        assert all(np.isclose(best, t, rtol=1e-3, atol=5e-3).any() for t in tops)
    # text_offset: where each token starts in the echoed text, in characters
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    spelled = ""
    for i, (tok, off) in enumerate(zip(tokens, lp.text_offset, strict=True)):
        assert off == len(spelled)
        piece = b"" if i == 0 else served[3]._engine.piece(tok, special=True)  # BOS: added
        spelled += decoder.decode(piece)
    assert spelled == PROMPT


def test_echo_logprobs_then_the_answer_streamed_alike(served):
    client, _, name, _ = served
    prompt = "the court held that"
    kw = dict(model=name, prompt=prompt, temperature=0, logprobs=2)
    scored = client.completions.create(**kw, echo=True, max_tokens=0).choices[0].logprobs
    plain = client.completions.create(**kw, max_tokens=6).choices[0]
    both = client.completions.create(**kw, echo=True, max_tokens=6).choices[0]
    n = len(scored.tokens)
    assert both.text == prompt + plain.text
    assert both.logprobs.tokens == scored.tokens + plain.logprobs.tokens
    assert both.logprobs.token_logprobs[1:n] == pytest.approx(scored.token_logprobs[1:], abs=1e-3)
    assert both.logprobs.token_logprobs[n:] == pytest.approx(
        plain.logprobs.token_logprobs, abs=1e-3
    )
    assert both.logprobs.text_offset[n] == len(prompt)  # the answer starts after the prompt
    chunks = list(client.completions.create(**kw, echo=True, max_tokens=6, stream=True))
    first = chunks[0].choices[0]
    assert first.text == prompt and first.logprobs.tokens == scored.tokens
    assert "".join(c.choices[0].text for c in chunks) == both.text


def test_a_request_without_prompt_logprobs_is_untouched(served):
    """A plain request after (and beside) scoring gets the same answer as before: the scored
    prompt's cells, computed in pieces, are never reused as a cached prefix."""
    client, _, name, backend = served
    kw = dict(model=name, prompt=PROMPT, temperature=0, max_tokens=8)
    before = client.completions.create(**kw).choices[0].text
    reused = backend._engine.reused_tokens
    client.completions.create(model=name, prompt=PROMPT, echo=True, logprobs=0, max_tokens=0)
    assert backend._engine.reused_tokens == reused  # scoring read no cached prefix either
    assert client.completions.create(**kw).choices[0].text == before


def test_prompts_scored_together_score_as_alone(served):
    """Two scoring requests at once share each step's logits rows; neither changes."""
    from concurrent.futures import ThreadPoolExecutor

    client, _, name, _ = served
    prompts = [PROMPT, PROMPT.replace("void", "valid")]

    def score(prompt: str) -> list[float | None]:
        r = client.completions.create(
            model=name, prompt=prompt, echo=True, logprobs=1, max_tokens=0
        )
        return r.choices[0].logprobs.token_logprobs

    alone = [score(p) for p in prompts]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(score, prompts))
    for a, t in zip(alone, together, strict=True):
        assert t[0] is None and t[1:] == pytest.approx(a[1:], rel=1e-3, abs=5e-3)
    assert alone[0] != alone[1]


def test_max_tokens_zero_needs_echo(served):
    _, url, name, _ = served
    r = httpx.post(url + "/v1/completions", json={"model": name, "prompt": "the", "max_tokens": 0})
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens", r.text
    ok = httpx.post(
        url + "/v1/completions",
        json={"model": name, "prompt": "the court", "max_tokens": 0, "echo": True},
    )
    assert ok.status_code == 200 and ok.json()["choices"][0]["text"] == "the court"
    assert ok.json()["choices"][0]["logprobs"] is None


class NoPromptLogprobs(EchoBackend):
    """A backend that returns logprobs of generated tokens only (as vLLM's here does today)."""

    features = frozenset({"logprobs"})


@pytest.mark.parametrize("backend_cls", [EchoBackend, NoPromptLogprobs])
def test_echo_backend_shapes_and_the_capability_check(backend_cls):
    backend = backend_cls(echo_manifest("echo-model"), BackendOptions(n_ctx=256))
    body = {"model": "echo-model", "prompt": "a b  c", "echo": True, "logprobs": 1}
    with TestClient(create_app(Settings(backend="echo"), backend=backend)) as c:
        wait_ready(c)
        r = c.post("/v1/completions", json={**body, "max_tokens": 0})
        zero = c.post("/v1/completions", json={**body, "max_tokens": 0, "logprobs": None})
        if backend_cls is NoPromptLogprobs:
            for resp, param in ((r, "echo"), (zero, "max_tokens")):
                assert resp.status_code == 400, resp.text
                assert resp.json()["error"]["param"] == param
                assert "NoPromptLogprobs" in resp.json()["error"]["message"]
            return
        assert r.status_code == 200, r.text
        lp = r.json()["choices"][0]["logprobs"]
        assert lp["tokens"] == ["", "a", " b", "  c"] and lp["token_logprobs"] == [None, 0, 0, 0]
        assert lp["text_offset"] == [0, 0, 1, 3] and lp["top_logprobs"][0] is None
        assert zero.status_code == 200 and zero.json()["choices"][0]["text"] == "a b  c"
