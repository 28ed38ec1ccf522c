"""POST /v1/feedback on the echo backend: stored responses, errors, metrics, clean logs."""

from __future__ import annotations

import json
import logging

from legal_edge.feedback import FeedbackStore
from tests.legal_edge.helpers import chat, client, wait_ready

SECRET = "张三 身份证 110101199001011234 借款 纠纷"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_feedback_on_a_chat_answer(tmp_path):
    db = tmp_path / "fb.db"
    logger = logging.getLogger("legal_edge")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        rid = _chat_and_rate(db)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    store = FeedbackStore(db)
    row = store.response(rid)
    assert row["request"] == [{"role": "user", "content": SECRET}]
    assert row["answer"] == SECRET  # the echo backend repeats the question
    # neither the prompt, the answer, the correction nor the comment reach the logs
    logged = "\n".join(handler.lines)
    assert rid in logged and '"event": "feedback"' in logged
    for text in ("110101199001011234", "张三", "协商", "太短"):
        assert text not in logged


def test_no_conversation_text_is_kept_by_default(tmp_path):
    """The private default: the rating, timings and token counts are stored, the question,
    the answer and the correction text are not."""
    db = tmp_path / "fb.db"
    with client(db) as c:
        wait_ready(c)
        r = chat(c, SECRET)
        rid = r.json()["id"]
        fb = c.post("/v1/feedback", json={"response_id": rid, "rating": "down", "tags": ["x"]})
        assert fb.status_code in (200, 201), fb.text
    store = FeedbackStore(db)
    row = store.response(rid)
    assert row is not None and row["request"] is None and row["answer"] is None
    raw = db.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("fb.db-*") if p.is_file()
    )
    assert b"110101199001011234" not in raw
    assert store.counts()["feedback"] == 1


def _chat_and_rate(db, **settings_kw) -> str:
    with client(db, response_retention_days=30, **settings_kw) as c:
        wait_ready(c)
        r = chat(c, SECRET)
        assert r.status_code == 200
        rid = r.json()["id"]
        fb = c.post(
            "/v1/feedback",
            json={
                "response_id": rid,
                "rating": "down",
                "correction": "应当先协商，协商不成可诉讼。",
                "tags": ["incomplete"],
                "comment": "太短",
            },
        )
        assert fb.status_code == 200, fb.text
        body = fb.json()
        assert body["object"] == "feedback" and body["variant"] == "default"
        assert body["model"] == "echo-model" and body["rating"] == "down"
        metrics = c.get("/metrics").text
        assert 'legal_edge_feedback_total{rating="down",variant="default"} 1.0' in metrics
    return rid


def test_streamed_answer_is_stored(tmp_path):
    with client(tmp_path / "fb.db", response_retention_days=30) as c:
        wait_ready(c)
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "echo-model",
                "stream": True,
                "messages": [{"role": "user", "content": "合同 违约金 过高"}],
            },
        )
        rid = r.headers["x-request-id"]
    assert FeedbackStore(tmp_path / "fb.db").response(rid)["answer"] == "合同 违约金 过高"


def test_feedback_errors(tmp_path):
    with client(tmp_path / "fb.db") as c:
        wait_ready(c)
        rid = chat(c, "问题").json()["id"]
        r = c.post("/v1/feedback", json={"response_id": "chatcmpl-unknown", "rating": "up"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "response_not_found"
        r = c.post("/v1/feedback", json={"response_id": rid, "rating": "5 stars"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "rating"
        r = c.post("/v1/feedback", json={"response_id": rid})
        assert r.status_code == 400
        r = c.post("/v1/feedback", json={"response_id": rid, "rating": "up", "extra": 1})
        assert r.status_code == 400
    with client(None) as c:
        wait_ready(c)
        r = c.post("/v1/feedback", json={"response_id": rid, "rating": "up"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "feedback_disabled"


def test_feedback_needs_the_api_key(tmp_path):
    with client(tmp_path / "fb.db", api_keys=("secret-key-1",)) as c:
        wait_ready(c)
        r = c.post("/v1/feedback", json={"response_id": "x", "rating": "up"})
        assert r.status_code == 401


def test_failed_requests_are_counted_without_text(tmp_path):
    with client(tmp_path / "fb.db", max_queue=0) as c:
        wait_ready(c)
        r = c.post(
            "/v1/chat/completions",
            json={"model": "echo-model", "messages": [{"role": "user", "content": "词 " * 400}]},
        )
        assert r.status_code == 400
    rows = FeedbackStore(tmp_path / "fb.db").rows("SELECT status, request, answer FROM responses")
    assert rows == [{"status": 400, "request": None, "answer": None}]


def test_openapi_lists_feedback(tmp_path):
    with client(tmp_path / "fb.db") as c:
        schema = c.get("/schema/openapi.json").json()
        assert "/v1/feedback" in schema["paths"]
        assert json.dumps(schema).count("FeedbackRequest") >= 1
