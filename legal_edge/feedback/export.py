"""Feedback as training rows: the JSONL that ``legal-recipes prepare-data`` reads.

A correction replaces the model's answer and the row carries its own ``source``; a negative
rating without a correction is reported, never trained on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.feedback.store import EXPORT_SOURCE, FeedbackStore
from legal_edge.fileio import atomic_write_json, atomic_write_text

# -- export -------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    """What ``export`` did with every piece of feedback; written next to the JSONL."""

    training_rows: int = 0
    positive_kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    negatives_without_correction: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "training_rows": self.training_rows,
            "positive_kept": self.positive_kept,
            "skipped": dict(self.skipped),
            "negatives_without_correction": len(self.negatives_without_correction),
            "negatives": self.negatives_without_correction,
        }


def _conversation(request: Any) -> list[dict[str, str]] | None:
    if isinstance(request, list):
        turns = [m for m in request if isinstance(m, dict)]
        return turns if turns and turns[-1].get("role") == "user" else None
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        return [{"role": "user", "content": request["prompt"]}]
    return None


def iter_feedback(store: FeedbackStore, since: float = 0.0) -> Iterator[dict[str, Any]]:
    """The latest feedback per response (a lawyer may revise), joined with the response."""
    yield from store.rows(
        "SELECT f.*, r.request, r.answer FROM feedback f "
        "LEFT JOIN responses r ON r.id = f.response_id "
        "WHERE f.created >= ? AND f.rowid = (SELECT f2.rowid FROM feedback f2 "
        "  WHERE f2.response_id = f.response_id ORDER BY f2.created DESC, f2.rowid DESC LIMIT 1) "
        "ORDER BY f.created, f.rowid",
        (since,),
    )


def export(
    store: FeedbackStore,
    out: Path,
    *,
    include_positive: bool = False,
    since: float = 0.0,
    license: str = "office-internal",
) -> ExportReport:
    """Write training rows (``messages`` format) to ``out`` and a report beside it.

    Corrections become the assistant turn. With ``include_positive`` a thumbs-up answer is kept
    as it was. Negative ratings without a correction are listed in the report only.
    """
    report = ExportReport()
    lines = []
    for fb in iter_feedback(store, since):
        request = json.loads(fb["request"]) if fb["request"] else None
        tags = json.loads(fb["tags"] or "[]")
        if fb["rating"] == "down" and not fb["correction"]:
            report.negatives_without_correction.append(
                {
                    "feedback_id": fb["id"],
                    "response_id": fb["response_id"],
                    "model": fb["model"],
                    "variant": fb["variant"],
                    "tags": tags,
                    "comment": fb["comment"],
                }
            )
            continue
        if fb["correction"]:
            answer = fb["correction"]
        elif include_positive and fb["rating"] == "up" and fb["answer"]:
            answer = fb["answer"]
        else:
            report.skipped["positive_not_requested" if fb["rating"] == "up" else "other"] += 1
            continue
        conversation = _conversation(request)
        if conversation is None:
            report.skipped["conversation_not_retained"] += 1
            continue
        row = {
            "id": fb["id"],
            "messages": [*conversation, {"role": "assistant", "content": answer.strip()}],
            "source": EXPORT_SOURCE,
            "license": license,
            "feedback": {
                "response_id": fb["response_id"],
                "rating": fb["rating"],
                "corrected": bool(fb["correction"]),
                "model": fb["model"],
                "variant": fb["variant"],
                "tags": tags,
            },
        }
        lines.append(json.dumps(row, ensure_ascii=False))
        report.training_rows += 1
        report.positive_kept += int(not fb["correction"])
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    atomic_write_json(report_path(out), report.to_json())
    return report


def report_path(out: Path) -> Path:
    return out.with_name(out.stem + ".report.json")
