"""The local response and feedback store (SQLite, WAL).

Every completion leaves a row in ``responses``: id, time, model, A/B variant, status, latency,
token counts. The conversation and the answer are kept too, but only while
``response_retention_days`` allows (0 = never stored), so lawyers' feedback can refer to them;
after that the text is erased and the row stays as an anonymous measurement for ``ab-report``
until ``request_log_days``.

``export`` turns feedback into training rows in the ``messages`` format that
``legal-recipes prepare-data`` reads: a correction replaces the model's answer and the row carries
its own ``source``; a negative rating without a correction is reported, never trained on.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RATINGS = ("up", "down")
EXPORT_SOURCE = "feedback"
SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    request TEXT,   -- JSON: chat messages or {"prompt": ...}; NULL when not retained
    answer TEXT     -- NULL when not retained
);
CREATE INDEX IF NOT EXISTS responses_created ON responses(created);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    response_id TEXT NOT NULL,
    model TEXT,
    variant TEXT,
    rating TEXT NOT NULL,
    correction TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_response ON feedback(response_id);
"""
DAY = 86400.0


class FeedbackError(ValueError):
    """Bad feedback (unknown response, bad rating); the message names the field."""

    def __init__(self, message: str, param: str, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


@dataclass(frozen=True)
class ResponseRecord:
    id: str
    model: str
    variant: str
    route: str
    status: int
    duration_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request: Any = None  # chat messages (list of {role, content}) or {"prompt": str}
    answer: str | None = None


class FeedbackStore:
    """One SQLite file shared by the server (writes) and the CLI (reads, export, purge).

    Thread-safe: one connection behind a lock; WAL lets the CLI read while the server writes.
    """

    def __init__(
        self,
        path: Path | str,
        retention_days: float = 30.0,
        request_log_days: float = 90.0,
        purge_every_s: float = 3600.0,
    ) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.request_log_days = request_log_days
        self._purge_every_s = purge_every_s
        self._last_purge = 0.0
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit is in the WAL before it is acknowledged, so a killed process
        # (kill -9, a crash) loses nothing; a power cut can lose the last commits (no fsync
        # per commit). The response log keeps that (one write per request, on the event loop);
        # a lawyer's rating is committed with synchronous=FULL (add_feedback).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    @property
    def keeps_text(self) -> bool:
        return self.retention_days > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes -----------------------------------------------------------------------------

    def record_response(self, rec: ResponseRecord, now: float | None = None) -> None:
        now = time.time() if now is None else now
        keep = self.keeps_text
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.id,
                    now,
                    rec.model,
                    rec.variant,
                    rec.route,
                    rec.status,
                    rec.duration_s,
                    rec.prompt_tokens,
                    rec.completion_tokens,
                    json.dumps(rec.request, ensure_ascii=False) if keep and rec.request else None,
                    rec.answer if keep else None,
                ),
            )
        if now - self._last_purge > self._purge_every_s:
            self.purge(now)

    def add_feedback(
        self,
        response_id: str,
        rating: str,
        correction: str | None = None,
        tags: Sequence[str] = (),
        comment: str | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Store one piece of feedback; returns it with the response's model and variant."""
        if rating not in RATINGS:
            raise FeedbackError(
                f"rating: must be one of {', '.join(RATINGS)}, got {rating!r}", "rating"
            )
        if correction is not None and not correction.strip():
            correction = None
        if any(not isinstance(t, str) or not t.strip() for t in tags):
            raise FeedbackError("tags: must be non-empty strings", "tags")
        with self._lock:
            row = self._db.execute(
                "SELECT model, variant FROM responses WHERE id = ?", (response_id,)
            ).fetchone()
        if row is None:
            raise FeedbackError(
                f"response_id: no response {response_id!r} in the store (unknown, or older than "
                f"the retention window)",
                "response_id",
                status=404,
            )
        fb = {
            "id": f"fb-{uuid.uuid4().hex[:24]}",
            "object": "feedback",
            "created": int(time.time() if now is None else now),
            "response_id": response_id,
            "model": row[0],
            "variant": row[1],
            "rating": rating,
            "correction": correction,
            "tags": [t.strip() for t in tags],
            "comment": comment,
        }
        with self._lock:
            # acknowledged feedback survives a power cut too: this commit waits for its fsync
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "INSERT INTO feedback VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    fb["id"],
                    fb["created"],
                    response_id,
                    row[0],
                    row[1],
                    rating,
                    correction,
                    json.dumps(fb["tags"], ensure_ascii=False),
                    comment,
                ),
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
        return fb

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Erase text past the retention window and rows past the request log window."""
        now = time.time() if now is None else now
        self._last_purge = now
        with self._lock:
            text_cut = now - self.retention_days * DAY
            erased = self._db.execute(
                "UPDATE responses SET request = NULL, answer = NULL "
                "WHERE created < ? AND (request IS NOT NULL OR answer IS NOT NULL)",
                (text_cut,),
            ).rowcount
            deleted = 0
            if self.request_log_days > 0:
                deleted = self._db.execute(
                    "DELETE FROM responses WHERE created < ?", (now - self.request_log_days * DAY,)
                ).rowcount
        return {"text_erased": erased, "rows_deleted": deleted}

    # -- reads ------------------------------------------------------------------------------

    def response(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            cur = self._db.execute("SELECT * FROM responses WHERE id = ?", (response_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            return None
        out = dict(zip(names, row, strict=True))
        out["request"] = json.loads(out["request"]) if out["request"] else None
        return out

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(sql, tuple(args))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def counts(self) -> dict[str, int]:
        with self._lock:
            n_resp = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            n_text = self._db.execute(
                "SELECT COUNT(*) FROM responses WHERE answer IS NOT NULL"
            ).fetchone()[0]
            n_fb = self._db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        return {"responses": n_resp, "responses_with_text": n_text, "feedback": n_fb}


# -- request bodies -> what is stored -----------------------------------------------------------


def request_payload(body: Any) -> Any:
    """The part of an API request worth keeping: chat messages as plain dicts, or the prompt."""
    messages = getattr(body, "messages", None)
    if messages is not None:
        out = []
        for m in messages:
            content = m.content
            if isinstance(content, list):
                content = "".join(p.text or "" for p in content)
            out.append({"role": m.role, "content": content or ""})
        return out
    prompt = getattr(body, "prompt", None)
    if isinstance(prompt, list):
        prompt = prompt[0] if len(prompt) == 1 else None
    return {"prompt": prompt} if prompt is not None else None
