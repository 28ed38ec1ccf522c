"""The shipped model, served as installed (its manifest names runs/index/statutes), answers a
legal question grounded: the articles it was given and every citation it made come back in
``citations``, each citation checked, an unverified one marked in the text."""

from __future__ import annotations

import pytest

from legal_edge.settings.server import Settings
from legal_edge.statutes.flags import FLAG
from tests.conftest import REPO
from tests.legal_edge.helpers import SHIPPED, loaded, shipped_settings

pytestmark = pytest.mark.slow
MODEL = SHIPPED
FRAUD = "我被网恋诈骗七千多，怎么处理？"


def test_the_shipped_model_answers_with_checked_citations(default_base_gguf) -> None:
    index = REPO / "runs/index/statutes/index.sqlite3"
    if not index.is_file():
        pytest.fail(f"no statute index at {index}: ./install.sh builds it")
    # the whole articles, whatever this machine's speed (prompt_budget is tested on its own);
    # the guard off: asked closed-book the shipped model refuses this question (one of its
    # over-refusals of legitimate questions about crimes), so the closed-book guard answers it
    # with that refusal (tests/legal_edge/server/test_closed_book_guard_shipped.py); this test
    # is about the grounded answer and its citations.
    with loaded(shipped_settings(n_parallel=1, grounding_guard=False)) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": FRAUD}],
                "max_tokens": 96,
                "temperature": 0,
            },
        )
    assert r.status_code == 200, r.text
    body = r.json()
    answer = body["choices"][0]["message"]["content"]
    cites = body["citations"]
    given = [c for c in cites if c["given"]]
    assert 1 <= len(given) <= Settings().grounding_k, cites
    assert all(c["text"] and c["status"] == "in_force" for c in given)
    # the grounded prompt reached the model: far longer than the question alone
    assert body["usage"]["prompt_tokens"] > 150 and answer.strip()
    for c in cites:
        if c["cited_as"] is None:
            continue
        assert c["verified"] in (True, False) and c["reason"]
        if not c["verified"]:
            assert c["cited_as"] + FLAG.split("{")[0] in answer, (c, answer)


DRUNK = "我朋友醉酒驾驶被交警查获，血液酒精含量每百毫升120毫克，会怎么处罚？请引用法条。"
# Questions the unconstrained model answers by citing from memory as well (which of them does
# depends on the index the install built and on the CPU: llama.cpp's AVX2 and AVX-512 kernels
# round differently, so greedy answers differ; the test takes any that does).
FROM_MEMORY = (
    DRUNK,
    "公司拖欠工资两个月，员工可以立即解除劳动合同吗？请引用法条。",
    "离婚时夫妻共同财产怎么分割？请引用法条。",
    "借钱不还可以起诉吗？诉讼时效是多久？请引用法条。",  # (these two: an AVX-512 EPYC)
    "网购买到假货怎么赔偿？请引用法条。",
)


def _answers(mode: str, questions: tuple[str, ...]) -> dict[str, tuple[str, list[dict]]]:
    settings = shipped_settings(  # (whole articles: the prompts these questions were chosen with)
        n_parallel=1,
        citation_mode=mode,
        grounding_guard=False,  # about citations: the grounded answer, whatever closed-book says
    )
    out = {}
    with loaded(settings) as c:
        for question in questions:
            r = c.post(
                "/v1/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": question}],
                    "max_tokens": 200,
                    "temperature": 0,
                },
            )
            assert r.status_code == 200, r.text
            out[question] = r.json()["choices"][0]["message"]["content"], r.json()["citations"]
    return out


def _not_given(cites: list[dict]) -> list[dict]:
    return [c for c in cites if c["cited_as"] and c["given"] is None]


def test_a_constrained_grounded_answer_cites_only_the_given_articles(default_base_gguf) -> None:
    constrained = _answers("constrained", FROM_MEMORY)
    answer, cites = constrained[DRUNK]
    cited = [c for c in cites if c["cited_as"] is not None]
    assert cited, answer  # it does cite: the constraint had something to govern
    for question, (text, found) in constrained.items():
        assert not _not_given(found), (question, text, found)
        for c in found:  # the server's offsets point at the citations in the text as sent
            for m in c["mentions"]:
                assert text[m["start"] : m["end"]] == m["cited_as"]
    # the same model, unconstrained, cites articles it was not given: the grammar did the work
    free = _answers("check", FROM_MEMORY)
    assert any(_not_given(found) for _, found in free.values()), (
        "no unconstrained answer cites an article outside the prompt any more: add a question "
        "where it does to FROM_MEMORY",
        {q: text for q, (text, _) in free.items()},
    )
