"""Prepared records -> token ids with labels only on the assistant turns.

Each record is rendered with the model manifest's chat template (``legal_edge.prompts``), the same
function the server uses, so training sees exactly the prompt the server will send. The text is
cut into segments at every assistant turn and each segment is tokenized on its own: the prompt
part ends where the server's prompt ends (after ``<start_of_turn>model\\n``), and the answer tokens
are the ones the model must generate after it. Labels are ``-100`` on every prompt token;
multi-turn records train every assistant turn.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.prompts import TemplateError, record_to_messages, render_chat
from recipes.shared.jsonl import JsonlError, read_jsonl
from recipes.shared.prompt_formats import ANSWER_PREFIX

IGNORE = -100
_EXAM_ANSWER = re.compile(rf"^{ANSWER_PREFIX}([A-H]+)(?![A-Za-z])")
_SPECIAL_RE = re.compile(r"<\|?[A-Za-z_][A-Za-z0-9_]*\|?>")


class DataError(ValueError):
    """A data file or record that cannot be trained on; the message gives file:line."""


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    source: str = ""
    # positions of exam-answer letters (the tokens after ``答案：``), weighted by the loss
    letter_positions: list[int] = field(default_factory=list)

    @property
    def n_answer(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class LoadReport:
    path: str
    read: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    truncated: int = 0

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; a line that is not a JSON object raises ``DataError``."""
    try:
        yield from read_jsonl(path)
    except JsonlError as exc:
        raise DataError(str(exc)) from None


def check_record(rec: dict[str, Any], where: str) -> list[dict[str, str]]:
    """Validate one prepared record and return its chat messages."""
    if rec.get("messages"):
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in msgs
        ):
            raise DataError(f"{where}: 'messages' must be a list of {{role, content}} objects")
        bad = sorted({m["role"] for m in msgs} - {"system", "user", "assistant"})
        if bad:
            raise DataError(f"{where}: unknown message role {bad[0]!r}")
    elif not ("instruction" in rec and "output" in rec):
        keys = ", ".join(sorted(rec)) or "none"
        raise DataError(
            f"{where}: not a prepared record: needs 'instruction' and 'output' (or 'messages'); "
            f"has {keys}. Run `legal-recipes prepare-data` first."
        )
    messages = record_to_messages(rec)
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: record has no assistant answer to train on")
    return messages


def segments(template: str, messages: Sequence[dict[str, str]]) -> list[tuple[str, bool]]:
    """Cut the rendered conversation into ``(text, is_answer)`` pieces.

    The template must be prefix-stable: rendering the first ``k`` messages (with a generation
    prompt before an assistant turn) must be a prefix of rendering all of them.
    """
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render_chat(template, messages[:i], add_generation_prompt=True)
        full = render_chat(template, messages[: i + 1], add_generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise TemplateError("chat template is not prefix-stable across turns; cannot mask")
        pieces.append((prompt[len(done) :], False))
        pieces.append((full[len(prompt) :], True))
        done = full
    return [(t, a) for t, a in pieces if t]


def letter_span(tokenizer, answer: str) -> tuple[int, int] | None:
    """Token positions ``[start, end)`` of an exam answer's letters inside the tokens of the
    whole answer segment (``答案：AD<end_of_turn>…``), or None when it is no exam answer or the
    letters do not fall on token boundaries (then nothing is weighted)."""
    m = _EXAM_ANSWER.match(answer)
    if m is None:
        return None
    whole = tokenizer(answer, add_special_tokens=False)["input_ids"]
    before = tokenizer(answer[: m.start(1)], add_special_tokens=False)["input_ids"]
    upto = tokenizer(answer[: m.end(1)], add_special_tokens=False)["input_ids"]
    if whole[: len(upto)] != upto or upto[: len(before)] != before:
        return None
    return len(before), len(upto)


def encode(
    tokenizer, template: str, messages: Sequence[dict[str, str]], max_len: int, source: str = ""
) -> tuple[Example, bool]:
    """Token ids and labels for one conversation; returns ``(example, truncated)``."""
    ids: list[int] = []
    labels: list[int] = []
    letters: list[int] = []
    for n, (text, is_answer) in enumerate(segments(template, messages)):
        toks = tokenizer(text, add_special_tokens=(n == 0))["input_ids"]
        span = letter_span(tokenizer, text) if is_answer and n > 0 else None
        if span is not None:
            letters.extend(len(ids) + i for i in range(*span))
        ids.extend(toks)
        labels.extend(toks if is_answer else [IGNORE] * len(toks))
    truncated = len(ids) > max_len
    kept = [i for i in letters if i < max_len]
    return Example(ids[:max_len], labels[:max_len], source, kept), truncated


def check_template_tokens(tokenizer, template: str) -> list[str]:
    """The template's special tokens (``<start_of_turn>``…) must each be one known token."""
    sample = render_chat(
        template,
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        add_generation_prompt=False,
    )
    missing = []
    for tok in sorted(set(_SPECIAL_RE.findall(sample))):
        ids = tokenizer(tok, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] == getattr(tokenizer, "unk_token_id", None):
            missing.append(tok)
    return missing


def load_examples(
    path: Path,
    tokenizer,
    template: str,
    max_len: int,
    limit: int | None = None,
    drop_truncated: bool = False,
) -> tuple[list[Example], LoadReport]:
    """Encode every record of a prepared JSONL file; rejected rows are counted by reason.

    With ``drop_truncated`` a record longer than ``max_len`` is rejected instead of cut."""
    report = LoadReport(path=str(path))
    out: list[Example] = []
    for lineno, rec in read_records(path):
        report.read += 1
        messages = check_record(rec, f"{path}:{lineno}")
        ex, truncated = encode(tokenizer, template, messages, max_len, str(rec.get("source", "")))
        if ex.n_answer == 0:
            report.reject("no answer tokens left after truncation to max_seq_len")
            continue
        if truncated and drop_truncated:
            report.reject("longer than max_seq_len (dropped, not cut)")
            continue
        report.truncated += truncated
        out.append(ex)
        report.kept += 1
        if limit and report.kept >= limit:
            break
    if not out:
        raise DataError(
            f"{path}: no usable records (read {report.read}, rejected "
            f"{sum(report.rejected.values())}: {report.rejected})"
        )
    return out, report


def make_batches(
    n_examples: int, lengths: Sequence[int], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Deterministic batches for one epoch: shuffle, then group similar lengths to cut padding.

    Indices are shuffled, sorted by length within windows of 32 batches, and the batches are
    shuffled again, so each epoch's order depends only on ``(seed, epoch)``: resume replays it.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    idx = list(range(n_examples))
    rng.shuffle(idx)
    window = batch_size * 32
    batches: list[list[int]] = []
    for start in range(0, n_examples, window):
        chunk = sorted(idx[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int, letter_weight: float = 1.0):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` tensors; with a
    ``letter_weight`` other than 1, ``weights``: that weight on exam-answer letters, 1 elsewhere."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if letter_weight != 1.0:
        weights = torch.ones((len(examples), width), dtype=torch.float32)
        for row, e in enumerate(examples):
            weights[row, e.letter_positions] = letter_weight
        out["weights"] = weights
    return out
