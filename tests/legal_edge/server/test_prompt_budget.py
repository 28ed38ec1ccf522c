"""Grounded prompts cut to what the backend reads within ``grounding_first_token_ms``, over the
small real statute index and the echo backend (its answer is the prompt it was given, so the
test reads exactly what the model would have read). The echo backend counts a character as a
token here and says how fast it "reads"; the llama.cpp engine's own timing is tested in
tests/legal_edge/backends/test_llamacpp.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.server.prompt_budget import MIN_CHARS, READ_SHARE
from legal_edge.settings.server import Settings
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest, wait_ready

pytestmark = pytest.mark.slow  # builds the small index

MODEL = "echo-legal"
QUESTION = "盗窃公私财物数额较大的怎么处罚？抢劫和诈骗又怎么处罚？"
# the echo joins the prompt's words with single spaces: [n]heading：text, up to the next one
ARTICLE_RE = re.compile(r"\[\d+\](《[^》]+》第[^：]+条)：(.*?)(?= \[\d+\]| 问题：)")


class TimedEcho(EchoBackend):
    """The echo backend with a reading speed of ``rate`` characters (its tokens) per second
    and ``step`` seconds a decode step."""

    def __init__(self, rate: float, step: float, *args: Any) -> None:
        super().__init__(*args)
        self.prompt_rate = rate
        self.decode_step_s = step

    def count_tokens(self, prompt: str) -> int:
        return len(prompt)


def served_prompt(
    index: Path, rate: float, first_token_ms: int, step: float = 0.0, **settings: Any
) -> tuple[str, dict[str, Any]]:
    m = echo_manifest(MODEL, ctx=8192)
    m.statutes_index = str(index)
    runtime = ModelRuntime(MODEL, m, TimedEcho(rate, step, m, BackendOptions(n_ctx=8192)))
    settings = Settings(
        backend="echo",
        grounding_min_score=1.0,
        grounding_first_token_ms=first_token_ms,
        **settings,
    )
    with TestClient(create_app(settings, runtimes=[runtime])) as c:
        wait_ready(c)
        body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
        r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"], r.json()


def given(response: dict[str, Any]) -> list[str]:
    """The headings of the articles ``citations`` says were given, in the order given."""
    cites = sorted((c for c in response["citations"] if c["given"]), key=lambda c: c["given"])
    return [f"《{c['law']}》{c['label']}" for c in cites]


def test_articles_are_cut_to_the_time_budget(small_statute_index: Path) -> None:  # noqa: F811
    full, full_resp = served_prompt(small_statute_index, 1000.0, 0)  # 0: no limit
    full_articles = ARTICLE_RE.findall(full)
    assert len(full_articles) == Settings().grounding_k
    assert sum(len(t) for _, t in full_articles) > 3 * 100  # long articles, worth cutting
    assert given(full_resp) == [h for h, _ in full_articles]

    # a budget a little under the full prompt: every article stays, each excerpt shorter
    rate = (len(full) - 80) / READ_SHARE
    cut, cut_resp = served_prompt(small_statute_index, rate, 1000)
    cut_articles = ARTICLE_RE.findall(cut)
    assert [h for h, _ in cut_articles] == [h for h, _ in full_articles]
    assert len(cut) <= int(rate * READ_SHARE) < len(full)
    assert cut.endswith(QUESTION)
    assert given(cut_resp) == [h for h, _ in cut_articles]

    # a budget no excerpt fits: the best-ranked article alone, at the shortest excerpt
    tight, tight_resp = served_prompt(small_statute_index, 10.0, 1000)
    tight_articles = ARTICLE_RE.findall(tight)
    assert [h for h, _ in tight_articles] == [full_articles[0][0]]
    assert len(tight_articles[0][1]) <= MIN_CHARS + len("……")
    # the citations list gives what the model was given, not what retrieval found
    assert given(tight_resp) == [full_articles[0][0]]


def test_a_fast_backend_keeps_the_whole_prompt(small_statute_index: Path) -> None:  # noqa: F811
    full, _ = served_prompt(small_statute_index, 1000.0, 0)
    fast, _ = served_prompt(small_statute_index, 1e6, 1000)
    assert fast == full


def test_one_short_article_over_the_budget_stays(small_statute_index: Path) -> None:  # noqa: F811
    # nothing left to cut (one article, already shorter than the shortest excerpt): it stays
    prompt, resp = served_prompt(
        small_statute_index, 10.0, 1000, grounding_k=1, grounding_article_chars=20
    )
    articles = ARTICLE_RE.findall(prompt)
    assert len(articles) == 1 and given(resp) == [articles[0][0]]


def test_the_guards_opening_takes_its_share_of_the_time(
    small_statute_index: Path,  # noqa: F811
) -> None:
    def read(response: dict[str, Any]) -> int:
        return int(response["usage"]["prompt_tokens"])

    full, full_resp = served_prompt(small_statute_index, 1000.0, 0)
    # room for the whole prompt and the guard's question beside it (the question as asked, in
    # the chat template: fewer than 200 characters)
    rate = (read(full_resp) + 200) / READ_SHARE
    assert served_prompt(small_statute_index, rate, 1000)[0] == full
    # 8 decode steps of 50 ms before the first token is sent: 0.4 s less to read the prompt in
    step, steps = 0.05, Settings().grounding_guard_tokens
    cut, cut_resp = served_prompt(small_statute_index, rate, 1000, step=step)
    assert len(ARTICLE_RE.findall(cut)) >= 1
    assert read(cut_resp) <= rate * (READ_SHARE - steps * step) - len(QUESTION) < read(full_resp)
    # without the guard nothing decodes before the first token: the steps cost nothing
    alone, _ = served_prompt(small_statute_index, rate, 1000, step=step, grounding_guard=False)
    assert alone == full
