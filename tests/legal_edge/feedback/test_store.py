"""The SQLite response/feedback store: WAL, retention, purge, export rules."""

from __future__ import annotations

import json
import sqlite3

import pytest

from legal_edge.feedback import FeedbackError, FeedbackStore, ResponseRecord, export, report_path
from legal_edge.feedback.store import DAY

CONV = [
    {"role": "system", "content": "你是律师助理。"},
    {"role": "user", "content": "试用期可以随时解除劳动合同吗？"},
]


def rec(rid: str, variant: str = "A", status: int = 200, answer: str = "可以。") -> ResponseRecord:
    return ResponseRecord(
        id=rid,
        model="m",
        variant=variant,
        route="chat",
        status=status,
        duration_s=0.2,
        prompt_tokens=10,
        completion_tokens=3,
        request=CONV,
        answer=answer,
    )


def test_wal_and_roundtrip(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    store.record_response(rec("r1"))
    mode = sqlite3.connect(tmp_path / "fb.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    row = store.response("r1")
    assert row["request"] == CONV and row["answer"] == "可以。" and row["variant"] == "A"
    fb = store.add_feedback("r1", "down", "不可以，需有法定事由。", ["wrong_law"], "引用错误")
    assert fb["variant"] == "A" and fb["tags"] == ["wrong_law"]
    assert store.counts() == {"responses": 1, "responses_with_text": 1, "feedback": 1}


def test_bad_feedback_names_the_field(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    store.record_response(rec("r1"))
    with pytest.raises(FeedbackError, match="rating") as e:
        store.add_feedback("r1", "great")
    assert e.value.param == "rating"
    with pytest.raises(FeedbackError, match="response_id") as e:
        store.add_feedback("nope", "up")
    assert e.value.status == 404
    with pytest.raises(FeedbackError, match="tags"):
        store.add_feedback("r1", "up", tags=[" "])


def test_retention_off_keeps_no_text(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db", retention_days=0)
    store.record_response(rec("r1"))
    row = store.response("r1")
    assert row["request"] is None and row["answer"] is None and row["duration_s"] == 0.2
    raw = (tmp_path / "fb.db").read_bytes() + (tmp_path / "fb.db-wal").read_bytes()
    assert "试用期".encode() not in raw
    store.add_feedback("r1", "down", "更正的回答")  # feedback still lands ...
    rep = export(store, tmp_path / "out.jsonl")  # ... but cannot become training data
    assert rep.training_rows == 0 and rep.skipped["conversation_not_retained"] == 1


def test_purge_erases_text_then_rows(tmp_path):
    store = FeedbackStore(
        tmp_path / "fb.db", retention_days=7, request_log_days=30, purge_every_s=1e12
    )
    now = 1_000_000_000.0
    store.record_response(rec("old"), now=now - 40 * DAY)
    store.record_response(rec("mid"), now=now - 10 * DAY)
    store.record_response(rec("new"), now=now - 1 * DAY)
    assert store.purge(now) == {"text_erased": 2, "rows_deleted": 1}
    assert store.response("old") is None
    assert store.response("mid")["answer"] is None
    assert store.response("new")["answer"] == "可以。"


def test_export_rules(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    for rid in ("corr", "neg", "pos", "revised"):
        store.record_response(rec(rid))
    store.add_feedback("corr", "down", "不可以，用人单位须证明不符合录用条件。", ["wrong_answer"])
    store.add_feedback("neg", "down", tags=["unclear"])
    store.add_feedback("pos", "up")
    store.add_feedback("revised", "up", now=1.0)
    store.add_feedback("revised", "down", "修订后的回答", now=2.0)  # the latest one counts
    out = tmp_path / "fb.jsonl"
    rep = export(store, out)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rep.training_rows == 2 == len(rows)
    corr = next(r for r in rows if r["feedback"]["response_id"] == "corr")
    assert corr["source"] == "feedback"
    assert corr["messages"][:2] == CONV
    assert corr["messages"][-1] == {
        "role": "assistant",
        "content": "不可以，用人单位须证明不符合录用条件。",
    }
    assert {r["feedback"]["response_id"] for r in rows} == {"corr", "revised"}
    report = json.loads(report_path(out).read_text(encoding="utf-8"))
    assert report["negatives_without_correction"] == 1
    assert report["negatives"][0]["response_id"] == "neg"
    assert report["negatives"][0]["tags"] == ["unclear"]
    assert report["skipped"] == {"positive_not_requested": 1}
    rep2 = export(store, out, include_positive=True)
    assert rep2.training_rows == 3 and rep2.positive_kept == 1


def test_writes_purge_hourly(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db", retention_days=1, request_log_days=0)
    now = 1_000_000_000.0
    store.record_response(rec("a"), now=now)
    store.record_response(rec("b"), now=now + 2 * DAY)  # more than an hour later: purges
    assert store.response("a")["answer"] is None and store.response("b")["answer"] == "可以。"
    assert store.response("a")["duration_s"] == 0.2  # request_log_days=0: rows kept
