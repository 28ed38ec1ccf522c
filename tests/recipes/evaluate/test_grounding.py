"""Citation metrics and retrieval against a small real statute index (刑法, 民法典 in parts,
公司法 in two versions, a test law whose revision dropped an article)."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.prompt import grounded_question
from recipes.evaluate import case, mcq
from recipes.evaluate.grounding import (
    citation_metrics,
    cited_articles,
    gold_articles,
    mcq_query,
    retrieval_counts,
    retrieve,
)
from recipes.evaluate.items import Item

pytestmark = pytest.mark.slow  # builds the small index (jieba over ~1,500 articles)


@pytest.fixture(scope="module")
def index(small_statute_index: Path) -> StatuteIndex:
    return StatuteIndex(small_statute_index)


def test_one_valid_one_invented_citation_gives_validity_half(index: StatuteIndex) -> None:
    answer = "依照《刑法》第二百六十四条处罚；另见《刑法》第九千条。"
    m = citation_metrics(index, answer, "本案适用《中华人民共和国刑法》第264条。")
    assert m["answers_citing"] == [1.0, 1.0]
    assert m["citation_validity"] == [1.0, 2.0]  # 264 exists, 9000 does not
    assert m["citation_in_force"] == [1.0, 2.0]
    assert m["article_recall"] == [1.0, 1.0]  # short name and Arabic numerals match the title
    assert m["article_precision"] == [1.0, 2.0]


def test_recall_and_precision_against_a_known_reference(index: StatuteIndex) -> None:
    reference = (
        "《中华人民共和国刑法》第二百六十四条、第二百六十六条；《民法典》第一千一百六十五条。"
    )
    answer = (
        "根据《刑法》第264条，并参照《中华人民共和国刑法》第二百六十四条、"
        "《民法》第一千一百六十五条，以及《公司法》第五十八条。"
    )
    m = citation_metrics(index, answer, reference)
    # answer: 刑法 264 (twice, counted once), 民法典 1165, 公司法 58; reference: 264, 266, 1165
    assert m["article_recall"] == [2.0, 3.0]
    assert m["article_precision"] == [2.0, 3.0]
    assert m["citation_validity"] == [3.0, 3.0]


def test_superseded_article_is_valid_but_not_in_force(index: StatuteIndex) -> None:
    m = citation_metrics(index, "见《测试办法》第三条和《测试办法》第一条。", "无")
    assert m["citation_validity"] == [2.0, 2.0]
    assert m["citation_in_force"] == [1.0, 2.0]  # 第三条 is only in the 2019 version
    assert m["article_recall"] == [0.0, 0.0] and m["article_precision"] == [0.0, 2.0]


def test_an_answer_without_citations(index: StatuteIndex) -> None:
    m = citation_metrics(index, "建议咨询律师。", "《刑法》第二百六十四条")
    assert m["answers_citing"] == [0.0, 1.0]
    assert m["citation_validity"] == [0.0, 0.0]  # nothing cited: not part of validity
    assert m["article_recall"] == [0.0, 1.0]


def test_retrieval_recall_counts_gold_articles_among_retrieved(index: StatuteIndex) -> None:
    found = retrieve(index, "盗窃公私财物，数额较大的，怎么处罚？", 5)
    assert ("中华人民共和国刑法", "264") in {(a.law, a.number) for a in found}
    # 264 is retrieved, 第九千条 does not exist (not gold), 1165 is not retrieved
    reference = "《刑法》第二百六十四条；《刑法》第九千条；《民法典》第一千一百六十五条"
    assert gold_articles(index, reference) == {
        ("中华人民共和国刑法", "264"),
        ("中华人民共和国民法典", "1165"),
    }
    assert retrieval_counts(index, found, reference) == [1.0, 2.0]
    assert cited_articles(index, "《民诉法》第一条") == {("民诉法", "1")}  # unknown here: kept


class Recorder:
    supports_loglik = True

    def loglikelihoods(self, messages, continuations, prefill=""):
        self.messages = messages
        return [0.0 for _ in continuations]

    def generate(self, messages, max_tokens):
        self.messages = messages
        return "答案：B"


def test_grounded_prompts_are_the_shared_format(index: StatuteIndex) -> None:
    opts = {"A": "盗窃罪", "B": "诈骗罪", "C": "抢夺罪", "D": "侵占罪"}
    item = Item(
        "q",
        {"question": "秘密窃取他人财物，数额较大的，构成何罪？", "options": opts, "answer": "A"},
    )
    item.data["kind"] = "single"
    item.data["articles"] = retrieve(index, mcq_query(item.data["question"], opts), 3)
    rec = mcq.predict(Recorder(), item, modes=("generate",), shots=[], max_tokens=6,
                      article_chars=100)  # fmt: skip
    want = grounded_question(mcq.question_text(item), item.data["articles"], 100)
    assert rec["retrieved"] and "参考法条：" in want
    backend = Recorder()
    mcq.predict(backend, item, modes=("generate",), shots=[], max_tokens=6, article_chars=100)
    assert backend.messages[-1]["content"] == want
    closed = Recorder()
    mcq.predict(closed, item, modes=("generate",), shots=[], max_tokens=6)
    assert closed.messages[-1]["content"] == mcq.question_text(item)

    q = "我家的狗咬伤了邻居，要赔偿吗？"
    c = Item("c", {"prompt": q, "reference": "《民法典》第一千一百六十五条", "articles": []})
    c.data["articles"] = retrieve(index, q, 2)
    backend = Recorder()
    out = case.predict(backend, c, max_tokens=8, index=index, article_chars=240)
    assert backend.messages[-1]["content"] == grounded_question(q, c.data["articles"], 240)
    assert out["metrics"]["answers_citing"] == [0.0, 1.0]  # "答案：B" cites nothing


def _cases_citing_the_slice(legal_data: Path, index: StatuteIndex, out: Path, n: int) -> Path:
    """Real consultations whose reference cites an article of the small index's laws."""
    import json

    rows = []
    with (legal_data / "qa/lawyer_llama_single_turn.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if gold_articles(index, row["output"]):
                rows.append(row)
            if len(rows) == n:
                break
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return out


def test_recipe_with_retrieval_on_and_off(tmp_path, tiny_gguf, legal_data, small_statute_index):
    import json

    from legal_edge.settings.loader import ConfigError, load_config
    from recipes.evaluate import Config, run

    index = StatuteIndex(small_statute_index)
    cases = _cases_citing_the_slice(legal_data, index, tmp_path / "cases.jsonl", 3)
    mcq_suite = {"kind": "mcq", "path": str(legal_data / "mcq/jecqa_train.jsonl"), "limit": 4,
                 "single_answer": True, "modes": ["loglik", "generate"]}  # fmt: skip
    case_suite = {"kind": "case", "path": str(cases), "cited_only": True, "max_tokens": 8}
    data = {
        "output_dir": str(tmp_path / "out"),
        "bootstrap_samples": 50,
        "write_manifest": False,
        "charts": False,
        "index_path": str(small_statute_index),
        "retrieval_k": 3,
        "models": [{"name": "m", "path": str(tiny_gguf), "n_ctx": 2048, "n_threads": 1}],
        "suites": [
            {"name": "jec", **mcq_suite},
            {"name": "jec_g", **mcq_suite, "retrieval": True},
            {"name": "cases", **case_suite},
            {"name": "cases_g", **case_suite, "retrieval": True},
        ],
    }
    (tmp_path / "c.yaml").write_text(json.dumps(data), encoding="utf-8")
    out = run(load_config(Config, tmp_path / "c.yaml"))
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text("utf-8").splitlines()]

    # grounded suites carry their k articles; closed-book ones none
    for p in preds:
        assert ("retrieved" in p) == p["suite"].endswith("_g")
        if "retrieved" in p:
            assert 1 <= len(p["retrieved"]) <= 3 and p["retrieved"][0].startswith("《")
    # the letter statistics agree with the predictions they summarise
    for suite in ("jec", "jec_g"):
        got = results["suites"][suite]["models"]["m"]
        recs = [p for p in preds if p["suite"] == suite]
        for mode in ("loglik", "generate"):
            s = got["letters"][mode]
            assert sum(s["distribution"].values()) == len(recs) == 4
            own = sum(p["answer"] == s["own_top"] for p in recs) / len(recs)
            assert got["metrics"][f"const_own_{mode}"]["value"] == own
            acc = got["metrics"][f"acc_{mode}"]["value"]
            best = max(own, got["metrics"][f"const_gold_{mode}"]["value"])
            assert abs(got["metrics"][f"acc_over_const_{mode}"]["value"] - (acc - best)) < 1e-9
    # citation metrics and retrieval recall on both case suites (the references cite the slice)
    for suite in ("cases", "cases_g"):
        entry = results["suites"][suite]
        assert {"answers_citing", "citation_validity", "article_recall"} <= set(
            entry["models"]["m"]["metrics"]
        )
        assert entry["retrieval"]["k"] == 3 and entry["retrieval"]["recall"]["n"] == 3
    assert results["suites"]["cases"]["retrieval"] == results["suites"]["cases_g"]["retrieval"]
    # off vs on, paired per item
    pairs = {(r["closed_book"], r["grounded"], r["metric"]) for r in results["retrieval_on_off"]}
    assert ("jec", "jec_g", "acc_loglik") in pairs and ("cases", "cases_g", "rouge_l") in pairs
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Retrieval off vs. on" in report and "retrieval recall@3" in report
    assert "predicted answers (loglik)" in report

    del data["index_path"]
    (tmp_path / "c.yaml").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="index_path"):
        run(load_config(Config, tmp_path / "c.yaml"))

    data["index_path"] = str(small_statute_index)
    data["suites"] = [{"name": "x", "kind": "safety", "retrieval": True,
                       "path": str(legal_data / "safety/xstest_en.jsonl")}]  # fmt: skip
    (tmp_path / "c.yaml").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"suites\.x\.retrieval: only mcq"):
        run(load_config(Config, tmp_path / "c.yaml"))


def test_supported_citation_precision_of_a_grounded_answer(index: StatuteIndex) -> None:
    given = [index.lookup("刑法", n) for n in ("133", "133-1", "334")]
    assert all(given)
    answer = (
        "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、"
        "供应血液制品，不符合国家规定的标准，足以危害人体健康的，处五年以下有期徒刑。"
        "另见《中华人民共和国刑法》第二百六十四条。"
    )
    m = citation_metrics(index, answer, "《刑法》第一百三十三条之一", given)  # type: ignore[arg-type]
    # 133-1 is given but restated with 334's words; 264 exists but was not given
    assert m["citation_validity"] == [2.0, 2.0] and m["citation_given"] == [1.0, 2.0]
    assert m["citation_supported"] == [0.0, 2.0]
    assert m["restatement_support"] == [0.0, 1.0]
    own = answer.replace("第一百三十三条之一", "第三百三十四条")
    m = citation_metrics(index, own, "无", given)  # type: ignore[arg-type]
    assert m["citation_supported"] == [1.0, 2.0] and m["restatement_support"] == [1.0, 1.0]
    assert "citation_supported" not in citation_metrics(index, answer, "无")  # not grounded
