"""Grounded chat completions over a small real statute index (tests/fixtures/statute_index.py)
and the echo backend, which answers with the question it was given: the rewritten question
(参考法条 block) comes back as the answer, so the citations in it are real headings, and a
question that names an invented article makes the "model" cite it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from legal_edge.statutes.answer_check import MISATTRIBUTED
from legal_edge.statutes.prompt import nothing_found_answer
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest, streamed, wait_ready

pytestmark = pytest.mark.slow  # builds the small index

MODEL = "echo-legal"
THEFT = "刑法第二百六十四条规定的盗窃，数额较大怎么处罚？"
INVENTED = "《刑法》第九百九十九条规定了什么？盗窃财物"


def grounded_runtime(index: Path | None, name: str = MODEL) -> ModelRuntime:
    m = echo_manifest(name, ctx=4096)
    m.statutes_index = None if index is None else str(index)
    return ModelRuntime(name=name, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=4096)))


@pytest.fixture(scope="module")
def app_client(small_statute_index: Path) -> Iterator[TestClient]:  # noqa: F811
    # the threshold suits the small slice's BM25 scale; test_threshold checks the gate itself
    settings = Settings(backend="echo", grounding_min_score=1.0)
    runtimes = [grounded_runtime(small_statute_index), grounded_runtime(None, "echo-plain")]
    with TestClient(create_app(settings, runtimes=runtimes)) as c:
        wait_ready(c)
        yield c


def ask(c: TestClient, content: str, model: str = MODEL, **extra: Any) -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return c.post("/v1/chat/completions", json=body)


def stream(c: TestClient, content: str, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
    r = ask(c, content, stream=True, **extra)
    assert r.status_code == 200, r.text
    return streamed(r.text)


def test_citations_in_the_json_response(app_client: TestClient) -> None:
    r = ask(app_client, THEFT)
    assert r.status_code == 200, r.text
    body = r.json()
    answer = body["choices"][0]["message"]["content"]
    # the model saw the question rewritten with the articles, the named one first
    assert answer.startswith("参考法条：") and f"问题：{THEFT}" in answer
    assert "[1]《中华人民共和国刑法》第二百六十四条：盗窃公私财物" in answer
    cites = body["citations"]
    first = cites[0]
    assert (first["law"], first["article"], first["label"]) == (
        "中华人民共和国刑法",
        "264",
        "第二百六十四条",
    )
    assert first["text"].startswith("盗窃公私财物") and first["status"] == "in_force"
    assert first["origin"].startswith("刑法/刑法.md:") and first["version_date"]
    assert first["given"] == 1 and first["score"] is None  # looked up, not searched
    assert first["verified"] is True and first["cited_as"] == "《中华人民共和国刑法》第二百六十四条"
    given = [c for c in cites if c["given"]]
    assert [c["given"] for c in given] == list(range(1, len(given) + 1))
    assert len(given) == Settings().grounding_k


def test_citations_in_the_final_chunk_of_a_stream(app_client: TestClient) -> None:
    text, chunks = stream(app_client, THEFT, stream_options={"include_usage": True})
    with_cites = [i for i, ch in enumerate(chunks) if "citations" in ch]
    finish = next(
        i for i, ch in enumerate(chunks) if ch["choices"] and ch["choices"][0]["finish_reason"]
    )
    assert with_cites == [finish, len(chunks) - 1]  # the finish chunk and the usage chunk
    full = ask(app_client, THEFT).json()
    assert text == full["choices"][0]["message"]["content"]
    assert chunks[-1]["citations"] == full["citations"]


def test_retrieval_off(app_client: TestClient) -> None:
    for off in (False, {"enabled": False}, {"k": 0}):
        r = ask(app_client, THEFT, grounding=off)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == THEFT  # the question as asked
        # nothing given; the bare 刑法第二百六十四条 the echo repeats is found and checked
        cites = r.json()["citations"]
        assert [(c["article"], c["exists"], c["given"]) for c in cites] == [("264", True, None)]
        assert THEFT[cites[0]["start"] : cites[0]["end"]] == "刑法第二百六十四条"
    # citations the answer makes are still checked with retrieval off
    cites = ask(app_client, INVENTED, grounding=False).json()["citations"]
    assert [(c["article"], c["verified"], c["given"]) for c in cites] == [("999", False, None)]


def test_k_sets_how_many_articles(app_client: TestClient) -> None:
    counts = []
    for k in (1, 5):
        cites = ask(app_client, "盗窃 诈骗 抢夺 财物 数额较大", grounding={"k": k}).json()[
            "citations"
        ]
        counts.append(len([c for c in cites if c["given"]]))
    assert counts == [1, 5]


def test_a_follow_up_retrieves_with_the_earlier_turns(app_client: TestClient) -> None:
    first = "刑法第一百三十三条之一说的醉酒驾驶机动车"
    messages = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "这是危险驾驶罪。"},
        {"role": "user", "content": "会怎么处罚？"},
    ]
    body = app_client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": messages}
    ).json()
    assert body["citations"][0]["article"] == "133-1"  # named two turns back, looked up
    answer = body["choices"][0]["message"]["content"]
    assert answer.startswith("参考法条：") and answer.endswith("问题：会怎么处罚？")
    alone = ask(app_client, "会怎么处罚？").json()["citations"]
    assert "133-1" not in [c["article"] for c in alone if c["given"]]


def test_grounding_on_grounds_a_model_whose_manifest_names_no_index(
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(
        backend="echo", grounding="on", statutes_index=small_statute_index, grounding_min_score=1.0
    )
    with TestClient(create_app(settings, runtimes=[grounded_runtime(None)])) as c:
        wait_ready(c)
        assert ask(c, THEFT).json()["citations"][0]["article"] == "264"
    settings = Settings(backend="echo", grounding="off", grounding_min_score=1.0)
    with TestClient(create_app(settings, runtimes=[grounded_runtime(small_statute_index)])) as c:
        wait_ready(c)
        assert "citations" not in ask(c, THEFT).json()
        assert c.get("/v1/statutes/刑法/264").status_code == 503  # no index named anywhere


def test_date_picks_the_version_in_force_then(app_client: TestClient) -> None:
    q = "测试办法第三条的内容是什么？"
    old = ask(app_client, q, grounding={"date": "2019-06-01"}).json()["citations"][0]
    assert (old["law"], old["article"], old["version_date"]) == ("测试办法", "3", "2019-01-01")
    assert old["text"] == "后来删去的第三条。" and old["verified"] is True
    now = ask(app_client, q).json()["citations"]
    assert ("测试办法", "3") not in [(c["law"], c["article"]) for c in now if c["given"]]


def test_an_invented_citation_is_marked_in_text_and_citations(app_client: TestClient) -> None:
    body = ask(app_client, INVENTED).json()
    answer = body["choices"][0]["message"]["content"]
    assert "《刑法》第九百九十九条〔未核实：该法没有这一条〕规定了什么" in answer
    bad = [c for c in body["citations"] if c["verified"] is False]
    assert len(bad) == 1 and bad[0]["article"] == "999" and bad[0]["status"] == "not_found"
    assert "has no article 999" in bad[0]["reason"] and bad[0]["law"] == "中华人民共和国刑法"
    assert all(c["verified"] for c in body["citations"] if c["cited_as"] and c is not bad[0])
    before = metric(app_client, 'legal_edge_citations_total{model="echo-legal",verified="false"}')
    text, chunks = stream(app_client, INVENTED)
    assert text == answer and chunks[-1]["citations"] == body["citations"]
    after = metric(app_client, 'legal_edge_citations_total{model="echo-legal",verified="false"}')
    assert after == before + 1  # one unverified citation, counted once for the stream


def metric(c: TestClient, series: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_marking_in_the_text_can_be_switched_off(small_statute_index: Path) -> None:  # noqa: F811
    settings = Settings(backend="echo", grounding_min_score=1.0, flag_unverified_citations=False)
    with TestClient(create_app(settings, runtimes=[grounded_runtime(small_statute_index)])) as c:
        wait_ready(c)
        body = ask(c, INVENTED).json()
    assert "未核实" not in body["choices"][0]["message"]["content"]
    assert [c["verified"] for c in body["citations"] if c["article"] == "999"] == [False]


def test_nothing_found_answers_without_the_model(small_statute_index: Path) -> None:  # noqa: F811
    settings = Settings(backend="echo", grounding_min_score=1000.0)
    with TestClient(create_app(settings, runtimes=[grounded_runtime(small_statute_index)])) as c:
        wait_ready(c)
        r = ask(c, "盗窃财物数额较大怎么处罚？")
        body = r.json()
        assert body["choices"][0]["message"]["content"] == nothing_found_answer()
        assert body["citations"] == [] and body["usage"]["completion_tokens"] == 0
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        text, chunks = stream(c, "盗窃财物数额较大怎么处罚？")
        assert text == nothing_found_answer() and chunks[-1]["citations"] == []
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        series = 'legal_edge_grounding_total{model="echo-legal",outcome="nothing_found"}'
        assert metric(c, series) == 2
        # an article the question names is looked up, whatever the threshold
        named = ask(c, THEFT).json()
        assert named["citations"][0]["article"] == "264"


def test_bad_grounding_fields_are_400s_naming_the_field(app_client: TestClient) -> None:
    cases = [
        ({"k": 11}, "grounding.k", "<= 10"),
        ({"k": -1}, "grounding.k", ">= 0"),
        ({"date": "2023-02-30"}, "grounding.date", "2023-02-30"),
        ({"date": "yesterday"}, "grounding.date", "YYYY-MM-DD"),
        ({"topk": 3}, "grounding", "topk"),
        ("yes", "grounding", "grounding"),
    ]
    for value, param, word in cases:
        r = ask(app_client, THEFT, grounding=value)
        assert r.status_code == 400, (value, r.text)
        err = r.json()["error"]
        assert err["param"] == param and err["message"].startswith(param), (value, err)
        assert word in err["message"], (value, err)
    # a model without an index: the field is checked, then changes nothing
    assert ask(app_client, THEFT, model="echo-plain", grounding={"k": 11}).status_code == 400
    for value in (None, True, {"k": 5}):
        plain = ask(app_client, THEFT, model="echo-plain", grounding=value).json()
        assert "citations" not in plain and plain["choices"][0]["message"]["content"] == THEFT


class Lines(logging.Handler):
    """Records of one logger (Litestar's logging setup replaces the root handlers, so pytest's
    caplog does not see them)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.INFO)
        self.logger = logging.getLogger(name)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")

    def __enter__(self) -> Lines:
        self._level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


def test_the_server_starts_without_an_index(tmp_path: Path) -> None:
    missing = tmp_path / "no-index"
    app = create_app(Settings(backend="echo"), runtimes=[grounded_runtime(missing)])
    with Lines("legal_edge.server") as log, TestClient(app) as c:
        wait_ready(c)
        r = ask(c, THEFT)
    assert r.status_code == 200 and "citations" not in r.json()
    assert r.json()["choices"][0]["message"]["content"] == THEFT
    lines = [line for line in log.lines if "grounding off" in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING"), log.lines
    assert str(missing) in lines[0] and MODEL in lines[0] and "build-index" in lines[0]


def test_the_lookup_endpoints_use_the_models_index(app_client: TestClient) -> None:
    r = app_client.get("/v1/statutes/刑法/264")
    assert r.status_code == 200 and r.json()["text"].startswith("盗窃公私财物")


def test_tool_and_json_requests_are_not_rewritten_or_marked(app_client: TestClient) -> None:
    # automation (tools, JSON output) gets the messages as sent and no mark inside its JSON
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    for extra in (
        {"tools": [tool], "tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
    ):
        r = ask(app_client, INVENTED, **extra)
        assert r.status_code == 200, r.text
        body = r.json()
        content = body["choices"][0]["message"]["content"] or ""
        assert "参考法条" not in content and "未核实" not in content, extra
        assert body.get("citations") is None, extra


DRUNK = (
    "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、供应血液制品，"
    "不符合国家规定的标准，足以危害人体健康的，处五年以下有期徒刑。这样说对吗？"
)


def test_a_restatement_of_another_given_article_is_corrected(app_client: TestClient) -> None:
    body = ask(app_client, DRUNK, grounding={"k": 5}).json()
    answer = body["choices"][0]["message"]["content"]
    cites = {c["article"]: c for c in body["citations"]}
    blood, drunk = cites["334"], cites["133-1"]  # both given: named, and retrieved by its words
    assert blood["given"] and drunk["given"]
    # the heading the sentence was written under is rewritten to the article it restates
    wrote = "《中华人民共和国刑法》第一百三十三条之一"
    assert "根据《中华人民共和国刑法》第三百三十四条规定，非法采集" in answer
    assert f"{wrote}规定，非法采集" not in answer and "〔未核实" not in answer
    [fixed] = [m for m in blood["mentions"] if m["corrected_from"]]
    assert fixed["corrected_from"] == wrote and fixed["supported"] is True
    assert fixed["overlap"] > 0.9 > 0.3 > fixed["corrected_overlap"]
    assert blood["corrected_from"] == wrote and blood["supported"] is True
    # the echo repeats the 参考法条 block too: each heading there is followed by its own text
    assert drunk["supported"] is True and drunk["corrected_from"] is None
    for c in body["citations"]:  # every offset points at the citation as sent
        for m in c["mentions"]:
            assert answer[m["start"] : m["end"]] == m["cited_as"]
    text, chunks = stream(app_client, DRUNK, grounding={"k": 5})
    assert text == answer and chunks[-1]["citations"] == body["citations"]


def test_marking_a_misattributed_restatement_is_selectable(
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(backend="echo", grounding_min_score=1.0, misattributed_citations="mark")
    with TestClient(create_app(settings, runtimes=[grounded_runtime(small_statute_index)])) as c:
        wait_ready(c)
        body = ask(c, DRUNK, grounding={"k": 5}).json()
        answer = body["choices"][0]["message"]["content"]
        cites = {x["article"]: x for x in body["citations"]}
        blood, drunk = cites["334"], cites["133-1"]
        assert drunk["exists"] is True and drunk["verified"] is True  # exists: true, still wrong
        assert drunk["supported"] is False and drunk["restates"] == blood["given"]
        wrong = [m for m in drunk["mentions"] if m["supported"] is False]
        assert len(wrong) == 1 and wrong[0]["restates_overlap"] > 0.9 > 0.3 > wrong[0]["overlap"]
        assert blood["supported"] is True and blood["corrected_from"] is None
        # the sentence is marked where it ends, and every offset points at the citation
        mark = MISATTRIBUTED.format(blood["given"])
        assert f"处五年以下有期徒刑{mark}。" in answer
        for e in body["citations"]:
            for m in e["mentions"]:
                assert answer[m["start"] : m["end"]] == m["cited_as"]
        text, chunks = stream(c, DRUNK, grounding={"k": 5})
        assert text == answer and chunks[-1]["citations"] == body["citations"]
