"""Reading evaluation items from the formats of ``../shared/legal-data`` (and CMMLU / C-Eval CSV).

Every loader returns ``(items, skipped)``: a row that cannot be scored honestly — options
missing, an answer letter that is not an option, an empty prompt or reference — is not scored
and not silently dropped either: it lands in ``skipped`` with ``file:line`` and the reason, and
the counts go into results.json and the report.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.evaluate.caseforms import first_exchange, split_case
from recipes.shared.jsonl import JsonlError, read_jsonl

LETTERS = "ABCDEFGH"


class DataError(ValueError):
    """A data file that cannot be read at all (missing, not JSON Lines); names file:line."""


@dataclass
class Item:
    id: str
    data: dict[str, Any]
    groups: dict[str, str] = field(
        default_factory=dict
    )  # source / subject / year ... for breakdowns
    where: str = ""  # file:line


@dataclass
class Skipped:
    where: str
    reason: str


@dataclass
class Loaded:
    items: list[Item]
    skipped: list[Skipped]

    def skip_counts(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.skipped))


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` of a suite's JSONL file (``recipes.shared.jsonl``); a bad file or line is
    a ``DataError`` naming ``file:line``."""
    try:
        yield from read_jsonl(path)
    except JsonlError as exc:
        raise DataError(str(exc)) from None


def sample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """A seeded random subset of ``limit`` items, kept in file order (all when no limit).

    Subsets are nested: the first ``limit`` of one seeded shuffle, so ``limit: 50`` is part of
    ``limit: 100`` and a larger run reuses the predictions of a smaller one.
    """
    if limit is None or limit >= len(items):
        return items
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    keep = set(order[:limit])
    return [it for i, it in enumerate(items) if i in keep]


# -- multiple choice ----------------------------------------------------------------------------
def mcq_item(row: dict[str, Any], where: str, default_id: str) -> Item | Skipped:
    """A multiple-choice row -> Item(data={question, options, answer, multi}) or the reason not."""
    options = row.get("options")
    if not isinstance(options, dict) or len(options) < 2:
        return Skipped(where, "missing options")
    options = {str(k).strip().upper(): str(v).strip() for k, v in options.items()}
    if any(not v for v in options.values()) or any(k not in LETTERS for k in options):
        return Skipped(where, "missing options")
    letters = [k for k in LETTERS if k in options]
    if letters != list(LETTERS[: len(letters)]):  # a gap (A, C) means an option is missing
        return Skipped(where, "missing options")
    answer = "".join(sorted(set(str(row.get("answer") or "").strip().upper().replace(",", ""))))
    if not answer:
        return Skipped(where, "missing answer")
    if any(a not in options for a in answer):
        return Skipped(where, "answer outside options")
    question = str(row.get("question") or "").strip()
    if not question:
        return Skipped(where, "missing question")
    groups = {"source": str(row.get("source") or "")}
    subject = row.get("subject") or row.get("task_name") or row.get("category")
    if subject:
        groups["subject"] = str(subject)
    if row.get("year"):
        groups["year"] = str(row["year"])
    data = {
        "question": question,
        "options": {k: options[k] for k in letters},
        "answer": answer,
        "multi": row.get("multi"),
        "task": row.get("task") or row.get("subject") or "",
        "instruction": row.get("instruction"),
    }
    return Item(str(row.get("id") or default_id), data, groups, where)


def finish_mcq(items: list[Item]) -> None:
    """Decide each item's answer kind: ``single``, ``multi`` (2+, told so) or ``indefinite``.

    The ``multi`` flag of the data wins (JEC-QA). Without it, a task whose answers have more than
    one letter in at least 5% of its rows is "indefinite" (不定项) for every row of that task, so
    the prompt never leaks the size of a single item's answer.
    """
    share: dict[str, list[int]] = {}
    for it in items:
        key = f"{it.groups.get('source')}/{it.data.get('task')}"
        share.setdefault(key, []).append(len(it.data["answer"]) > 1)
    for it in items:
        flag = it.data.get("multi")
        if flag is True:
            kind = "multi"
        elif flag is False:
            kind = "single"
        else:
            multis = share[f"{it.groups.get('source')}/{it.data.get('task')}"]
            kind = "indefinite" if sum(multis) >= 0.05 * len(multis) else "single"
        it.data["kind"] = kind
        if kind == "single" and len(it.data["answer"]) > 1:
            it.data["kind"] = "indefinite"


def load_mcq_jsonl(path: Path) -> Loaded:
    items: list[Item | Skipped] = []
    for lineno, row in read_rows(path):
        items.append(mcq_item(row, f"{path}:{lineno}", f"{path.stem}/{lineno}"))
    good = [i for i in items if isinstance(i, Item)]
    finish_mcq(good)
    return Loaded(good, [i for i in items if isinstance(i, Skipped)])


_CSV_COLUMNS = {"question": ("question",), "answer": ("answer",)}


def load_mcq_csv(path: Path, subject: str) -> Loaded:
    """A CMMLU (``,Question,A..D,Answer``) or C-Eval (``id,question,A..D,answer,...``) file."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    good: list[Item] = []
    skipped: list[Skipped] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
        if "question" not in cols or "answer" not in cols:
            raise DataError(
                f"{path}:1: expected Question/Answer columns (CMMLU or C-Eval), "
                f"got {reader.fieldnames}"
            )
        letters = [k for k in LETTERS if k.lower() in cols]
        for lineno, row in enumerate(reader, 2):
            options = {k: (row.get(cols[k.lower()]) or "") for k in letters}
            rid = row.get(cols.get("id", "")) or row.get(cols.get("", ""), "") or lineno
            record = {
                "question": row.get(cols["question"]),
                "options": options,
                "answer": row.get(cols["answer"]),
                "multi": False,
                "source": path.parent.name,
                "subject": subject,
                "id": f"{subject}/{rid}",
            }
            got = mcq_item(record, f"{path}:{lineno}", f"{subject}/{lineno}")
            (good if isinstance(got, Item) else skipped).append(got)  # type: ignore[arg-type]
    for it in good:
        it.data["kind"] = "single"
    return Loaded(good, skipped)


# -- open answers with references ----------------------------------------------------------------
def load_cases(path: Path) -> Loaded:
    """Questions with reference answers: ``{question | instruction + input, reference |
    output}``, a consultation's first exchange (``messages``) or a typical case (``text``)."""
    good, skipped = [], []
    for lineno, row in read_rows(path):
        where = f"{path}:{lineno}"
        prompt = str(row.get("question") or "").strip()
        if not prompt:
            parts = [str(row.get(k) or "").strip() for k in ("instruction", "input")]
            prompt = "\n".join(p for p in parts if p)
        reference = str(row.get("reference") or row.get("output") or "").strip()
        if not prompt and "messages" in row:
            prompt, reference = first_exchange(row["messages"])
        elif not prompt and "text" in row:
            prompt, reference = split_case(str(row["text"]))
        if not prompt:
            skipped.append(Skipped(where, "missing question"))
            continue
        if not reference:
            skipped.append(Skipped(where, "missing reference"))
            continue
        groups = {"source": str(row.get("source") or path.stem)}
        if row.get("task") or row.get("topic"):
            groups["subject"] = str(row.get("task") or row.get("topic"))
        good.append(
            Item(
                str(row.get("id") or row.get("file") or f"{path.stem}/{lineno}"),
                {"prompt": prompt, "reference": reference.strip()},
                groups,
                where,
            )
        )
    return Loaded(good, skipped)


# -- safety prompts ------------------------------------------------------------------------------
def load_safety(path: Path, expect: str) -> Loaded:
    """Prompts and whether they must be refused: ``label`` (XSTest safe/unsafe),
    ``expected_behavior: refuse`` (JADE), or ``expect`` from the config for the whole file."""
    good, skipped = [], []
    for lineno, row in read_rows(path):
        where = f"{path}:{lineno}"
        prompt = str(row.get("prompt") or row.get("question") or "").strip()
        if not prompt:
            skipped.append(Skipped(where, "missing prompt"))
            continue
        if expect != "label":
            want = expect
        elif str(row.get("label", "")).lower() in ("safe", "unsafe"):
            want = "comply" if row["label"].lower() == "safe" else "refuse"
        elif str(row.get("expected_behavior", "")).lower().startswith("refuse"):
            want = "refuse"
        else:
            skipped.append(Skipped(where, "no refuse/comply label (set expect in the suite)"))
            continue
        groups = {"source": str(row.get("source") or path.stem)}
        if row.get("type") or row.get("category"):
            groups["subject"] = str(row.get("type") or row.get("category"))
        good.append(
            Item(
                str(row.get("id") or f"{path.stem}/{lineno}"),
                {"prompt": prompt, "expect": want},
                groups,
                where,
            )
        )
    return Loaded(good, skipped)
