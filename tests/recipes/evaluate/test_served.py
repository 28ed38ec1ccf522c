"""Safety suites asked through the server's own grounding (recipes/evaluate/served.py).

The server's answers come from the real app with the echo backend (it answers with the user turn
it was given, so the answer *is* the prompt the model saw, citations marked); the evaluation's
answers come from ``ServedGrounding`` with an echo double of the evaluation backend. They must be
the same text. Then a real run of the recipe on a tiny GGUF with ``grounded: both``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from litestar.testing import TestClient

from legal_edge.server.app import create_app
from legal_edge.server.closed_book_guard import REFUSED
from legal_edge.server.grounding import search_params
from legal_edge.settings.loader import ConfigError, load_config
from legal_edge.settings.server import Settings
from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.prompt import REFERENCE_HEADER, nothing_found_answer
from recipes.evaluate import Config, case, run
from recipes.evaluate.backends import Messages
from recipes.evaluate.backends.http import HTTPBackend
from recipes.evaluate.config import SuiteSpec
from recipes.evaluate.items import Item
from recipes.evaluate.served import ServedGrounding, expand
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import wait_ready
from tests.legal_edge.server.test_grounding import MODEL, grounded_runtime

pytestmark = pytest.mark.slow  # builds the small index

QUESTIONS = (
    "刑法第二百六十四条规定的盗窃，数额较大怎么处罚？",  # a named article, retrieved first
    "《刑法》第九百九十九条规定了什么？盗窃财物",  # an invented citation: the server marks it
    "今天晚饭吃什么好呢",  # nothing above the threshold: the server's own answer
    # opens with a refusal as asked: the closed-book guard answers with the question as sent
    "抱歉 我不能 告诉你 怎么 盗窃 公私 财物 数额较大",
)


class EchoEval:
    """The evaluation backend's shape, answering with the last user turn (as the server's echo
    backend does), and counting the calls (a "nothing found" answer must not reach it)."""

    supports_loglik = False

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, messages: Messages, max_tokens: int) -> str:
        self.calls += 1
        return [m["content"] for m in messages if m["role"] == "user"][-1]

    def loglikelihoods(
        self, messages: Messages, continuations: Sequence[str], prefill: str = ""
    ) -> list[float]:
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        return {}

    def close(self) -> None:
        pass


# the small slice's BM25 scale; no expansion table weight, whose lay words would lift the
# off-topic question above that floor on so small an index
SETTINGS = {"backend": "echo", "grounding_min_score": 1.0, "grounding_expansion_weight": 0.0}


@pytest.fixture(scope="module")
def server(small_statute_index: Path) -> Iterator[TestClient]:  # noqa: F811
    runtimes = [grounded_runtime(small_statute_index)]
    with TestClient(create_app(Settings(**SETTINGS), runtimes=runtimes)) as c:
        wait_ready(c)
        yield c


def test_the_evaluation_asks_what_the_server_asks(
    server: TestClient,
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(**SETTINGS)
    index = StatuteIndex(small_statute_index / "index.sqlite3", search_params(settings))
    served = ServedGrounding(index, settings)
    echo = EchoEval()
    for q in QUESTIONS:
        r = server.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": q}]},
        )
        assert r.status_code == 200, r.text
        from_server = r.json()["choices"][0]["message"]["content"]
        ours = served.answer(echo, q, 64)
        # the echo backend answers word by word: line breaks come back as spaces
        assert " ".join(ours["text"].split()) == " ".join(from_server.split()), q
    grounded, invented, nothing, refused = (served.answer(EchoEval(), q, 64) for q in QUESTIONS)
    assert grounded["text"].startswith(REFERENCE_HEADER + "\n[1]")
    assert grounded["retrieved"][0] == "《中华人民共和国刑法》第二百六十四条"
    assert grounded["guard"] is None  # the closed-book opening did not refuse
    assert "〔未核实" in invented["text"]  # the server's citation guard ran on the answer
    assert nothing == {
        "text": nothing_found_answer(),
        "retrieved": [],
        "nothing_found": True,
        "corrected": [],
    }
    assert refused == {
        "text": QUESTIONS[3],
        "retrieved": [],
        "nothing_found": False,
        "guard": REFUSED,
        "generated": QUESTIONS[3],
        "corrected": [],
    }
    # each grounded question: the guard's closed-book opening, then the answer; the "nothing
    # found" question never reached the model
    assert echo.calls == 2 * 3
    index.close()


def test_the_evaluation_applies_the_guard_only_when_the_server_does(
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(**SETTINGS, grounding_guard=False)
    index = StatuteIndex(small_statute_index / "index.sqlite3", search_params(settings))
    echo = EchoEval()
    off = ServedGrounding(index, settings).answer(echo, QUESTIONS[3], 64)
    assert off["text"].startswith(REFERENCE_HEADER) and off["guard"] is None
    assert echo.calls == 1  # no closed-book opening asked
    on = ServedGrounding(index, Settings(**SETTINGS))
    assert on.identity() != ServedGrounding(index, settings).identity()  # not a cached answer
    index.close()


# 第三百三十四条's words (blood collection) under the drunk-driving article's number
DRUNK = (
    "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、供应血液制品，"
    "不符合国家规定的标准，足以危害人体健康的，处五年以下有期徒刑。这样说对吗？"
)


def test_a_consultation_is_judged_as_the_server_sends_it(
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(**SETTINGS, grounding_k=5)  # 第三百三十四条 among the given
    index = StatuteIndex(small_statute_index / "index.sqlite3", search_params(settings))
    served = ServedGrounding(index, settings)
    item = Item(
        id="drunk", data={"prompt": DRUNK, "reference": "《刑法》第一百三十三条之一"}, where="t:1"
    )
    rec = case.predict(EchoEval(), item, max_tokens=64, served=served)
    # the echo's answer is the grounded prompt: the misattributed heading is rewritten ...
    assert "根据《中华人民共和国刑法》第三百三十四条规定，非法采集" in rec["text"]
    assert rec["corrected"] == [{"from": "第一百三十三条之一", "to": "第三百三十四条"}]
    assert rec["metrics"]["citations_corrected"][0] == 1
    # ... so every citation of the answer as sent is supported, which as generated it was not
    m = rec["metrics"]
    assert m["citation_supported"][0] == m["citation_supported"][1] > 0
    before = m["citation_supported_as_generated"]
    assert before[0] == before[1] - 1
    index.close()


def test_through_a_server_that_grounds_the_response_is_judged(
    small_statute_index: Path,  # noqa: F811
) -> None:
    settings = Settings(**SETTINGS, grounding_k=5)
    runtimes = [grounded_runtime(small_statute_index)]
    with TestClient(create_app(settings, runtimes=runtimes)) as client:
        wait_ready(client)
        backend = HTTPBackend("http://testserver", client=client, server_grounds=True)
        index = StatuteIndex(small_statute_index / "index.sqlite3", search_params(settings))
        # the evaluation's own grounding settings do not matter: the server grounds
        served = ServedGrounding(index, Settings())
        asked, given = served.ask(backend, DRUNK, 64)
        assert "根据《中华人民共和国刑法》第三百三十四条规定，非法采集" in asked["text"]
        wrote = "《中华人民共和国刑法》第一百三十三条之一"
        assert asked["corrected"] == [{"from": wrote, "to": "《中华人民共和国刑法》第三百三十四条"}]
        assert not asked["nothing_found"]
        assert [f"《{a.law}》{a.label}" for a in given] == asked["retrieved"]
        assert "《中华人民共和国刑法》第三百三十四条" in asked["retrieved"]
        assert "generated" not in asked  # the server sends only the corrected text
        index.close()


def test_grounded_both_is_two_suites_and_not_for_mcq() -> None:
    s = SuiteSpec(name="jade", kind="safety", path="x.jsonl", grounded="both")
    off, on = expand([s])
    assert (off.name, off.grounded, on.name, on.grounded) == ("jade", False, "jade_grounded", True)
    with pytest.raises(ConfigError, match="suites.jec.grounded"):
        expand([SuiteSpec(name="jec", kind="mcq", path="x.jsonl", grounded=True)])


def test_a_real_run_reports_closed_book_and_grounded_side_by_side(
    tmp_path: Path,
    tiny_gguf: Path,
    legal_data: Path,
    small_statute_index: Path,  # noqa: F811
) -> None:
    server_yaml = tmp_path / "server.yaml"
    server_yaml.write_text("grounding_min_score: 1.0\n", encoding="utf-8")
    data = {
        "output_dir": str(tmp_path / "out"),
        "bootstrap_samples": 50,
        "write_manifest": False,
        "index_path": str(small_statute_index),
        "server_config": str(server_yaml),
        "models": [{"name": "tiny", "path": str(tiny_gguf), "n_ctx": 2048, "n_threads": 1}],
        "suites": [
            {
                "name": "jade",
                "kind": "safety",
                "path": f"{legal_data}/safety/jade_harmful_questions.jsonl",
                "limit": 3,
                "max_tokens": 4,
                "grounded": "both",
            }
        ],
    }
    path = tmp_path / "eval.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = run(load_config(Config, path))
    results = json.loads((out / "results.json").read_text())
    assert set(results["suites"]) == {"jade", "jade_grounded"}
    preds = [json.loads(line) for line in (out / "predictions.jsonl").open(encoding="utf-8")]
    by_suite: dict[str, list[dict]] = {}
    for p in preds:
        by_suite.setdefault(p["suite"], []).append(p)
    assert len(by_suite["jade"]) == len(by_suite["jade_grounded"]) == 3
    assert all("retrieved" not in p for p in by_suite["jade"])
    grounded = by_suite["jade_grounded"]
    assert all("nothing_found" in p for p in grounded)
    # the same three prompts, asked both ways
    assert {p["id"] for p in grounded} == {p["id"] for p in by_suite["jade"]}
    assert any(p["retrieved"] for p in grounded)  # harmful requests about crimes find articles
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "jade → jade_grounded" in report
