"""Schema fuzzing: schemathesis generates requests from the served OpenAPI schema, for every
operation, valid (positive) and invalid (negative); each response must be no 5xx, a declared
status, the declared content type and body schema, and every error OpenAI-shaped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A valid request may still be refused for what no static schema can state: the prompt plus
# max_tokens longer than the context (depends on the tokenizer), an unknown model name.
# Nor can it state relations between fields (top_logprobs needs logprobs: true, tool_choice names
# one of the tools) or what a client's own JSON Schema (response_format, tool parameters) may use.
ALLOWED_REFUSALS = {
    "context_length_exceeded",
    "model_not_found",
    "response_not_found",
    "invalid_combination",
    "unsupported_schema",
}
# 503s that say a feature is not configured on this server (no statute index)
UNCONFIGURED = {"statutes_unavailable"}
ERROR_KEYS = {"message", "type", "param", "code"}


@dataclass
class FuzzReport:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)  # positive cases answered 2xx, per op
    positive: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # why valid cases were refused
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if what not in self.failures and len(self.failures) < 50:
            self.failures.append(what)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "statuses": dict(sorted(self.statuses.items())),
            "positive_accepted": {
                op: f"{self.accepted[op]}/{n}" for op, n in sorted(self.positive.items())
            },
            "positive_refused_by_code": dict(self.refusals.most_common()),
            "failures": self.failures,
        }


def _designed_refusal(resp: Any) -> bool:
    """A 503 that the server means (a feature not configured), not a failure."""
    try:
        code = resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return resp.status_code == 503 and code in UNCONFIGURED


def openai_error_problem(status: int, body: Any) -> str | None:
    """Why an error body is not ``{"error": {message, type, param, code}}``, else None."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or set(err) != ERROR_KEYS or set(body) != {"error"}:
        return f"{status}: not an OpenAI error: {str(body)[:200]}"
    if not isinstance(err["message"], str) or not err["message"]:
        return f"{status}: error without a message"
    return None


def fuzz(
    base_url: str,
    *,
    examples: int,
    headers: dict[str, str] | None = None,
    served_model: str = "echo-model",
    response_id: str | None = None,
    seed: int = 0,
) -> FuzzReport:
    """Fuzz every operation of ``base_url``'s served schema, ``examples`` cases per mode."""
    schema = schemathesis.openapi.from_url(base_url + "/schema/openapi.json")
    report = FuzzReport()
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            known = {"model": served_model, "response_id": response_id}
            _fuzz_operation(op, label, mode, base_url, headers or {}, known, examples, report)
    return report


def _fuzz_operation(
    op: Any,
    label: str,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    known: dict[str, str | None],
    examples: int,
    report: FuzzReport,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # True first: what Hypothesis draws by preference, so most valid cases name what exists
    @given(case=op.as_strategy(generation_mode=mode), served=st.sampled_from([True] * 3 + [False]))
    def run(case: Any, served: bool) -> None:
        body = case.body
        # most valid cases name the served model (a stored response), so they reach generation
        # (the store): the schema cannot know which names exist; the rest test the 404
        if mode is GenerationMode.POSITIVE and isinstance(body, dict) and served:
            for key, value in known.items():
                if value is not None and isinstance(body.get(key), str):
                    body[key] = value
        if mode is GenerationMode.POSITIVE and isinstance(body, dict) and "stream" in body:
            body.setdefault("max_tokens", 8)  # keep echo answers short: the drill is the API
        try:
            resp = case.call(base_url=base_url, headers=headers, timeout=30)
        except Exception as exc:  # a reset or a hang is a finding too
            report.fail(f"{label} [{mode.value}]: no response: {type(exc).__name__}: {exc}")
            return
        report.sent += 1
        status = resp.status_code
        report.statuses[f"{status // 100}xx" if status < 400 else str(status)] += 1
        if status >= 500 and not _designed_refusal(resp):
            report.fail(f"{label} [{mode.value}]: server error {status}: {resp.text[:200]}")
        try:
            case.validate_response(resp, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as exc:  # schemathesis' FailureGroup
            for failure in exc.exceptions:
                what = getattr(failure, "title", type(failure).__name__)
                detail = " ".join(str(getattr(failure, "message", "")).split())[:200]
                report.fail(f"{label} [{mode.value}] {status}: {what}: {detail}")
        if status >= 400 and not (op.path == "/health/ready" and status == 503):
            try:
                problem = openai_error_problem(status, resp.json())
            except ValueError:
                problem = f"{status}: error body is not JSON"
            if problem:
                report.fail(f"{label}: {problem}")
        if mode is GenerationMode.POSITIVE and op.method.lower() == "post":
            report.positive[label] += 1
            if status < 300:
                report.accepted[label] += 1
            else:
                code = (resp.json().get("error") or {}).get("code")
                report.refusals[f"{label} {status} {code}"] += 1
            if status == 400:
                if code not in ALLOWED_REFUSALS:
                    report.fail(f"{label}: a schema-valid request refused: {resp.text[:300]}")

    try:
        run()
    except Unsatisfiable:  # nothing to negate (an operation without parameters or body)
        pass
