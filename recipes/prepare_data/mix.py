"""The training mix's own rules: held-out prompts, crime-related consultations, shuffled MCQ.

* ``holdout_prompt_files``: prompts (``prompt`` field, JSONL) that must never be trained on, e.g.
  the hand-labelled refusal sample ``tests/fixtures/refusal_labelled.jsonl``; a record whose
  normalized prompt contains one is dropped (``held_out_prompt``).
* ``crime_category``: consultations about a crime (victims, thresholds, procedure, reporting)
  get their own category, so a cap can keep enough of them beside the harmful-request refusals:
  a model that sees a crime word only in refusals learns to refuse the victim too.
* ``shuffle_mcq``: the options of every multiple-choice record are permuted by a seeded hash of
  its id, and the answer letters move with their options, so no letter prior can be learned.
* ``balance_mcq_letters``: beyond a random permutation (whose letter counts still wander), the
  single-answer records' right options are moved to A, B, C, D in turn (in a seeded order), so
  every letter is the answer equally often and no letter is a safe guess.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from recipes.shared.jsonl import JsonlError, read_jsonl
from recipes.shared.prompt_formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE
from recipes.shared.records import normalize, prompt_text

_OPTION_RE = re.compile(r"^([A-H])\. (.*)$")


class MixError(ValueError):
    """A held-out prompt file that cannot be read; the message names file:line."""


def load_holdout(paths: tuple[Path, ...]) -> list[str]:
    """Normalized prompts of the held-out files (at least 4 characters each)."""
    out: list[str] = []
    for path in paths:
        try:
            for n, row in read_jsonl(path):
                if not isinstance(row.get("prompt"), str):
                    raise MixError(f"{path}:{n}: needs a string field 'prompt'")
                norm = normalize(row["prompt"])
                if len(norm) >= 4 and norm not in out:
                    out.append(norm)
        except JsonlError as exc:
            raise MixError(str(exc)) from None
    return out


def held_out(rec: dict[str, Any], prompts: list[str]) -> str | None:
    """The held-out prompt this record asks (normalized containment), or None."""
    text = normalize(prompt_text(rec))
    return next((p for p in prompts if p in text), None)


def shuffle_mcq(rec: dict[str, Any], seed: int, target: int | None = None) -> bool:
    """Permute the options of an MCQ record in place; the answer letters follow. Returns
    whether the record was an MCQ in the shared format (``A. …`` lines, ``答案：X``). With
    ``target`` (a single-answer record), the right option lands at that position (modulo the
    number of options) and the others are shuffled around it."""
    if rec.get("instruction") not in (MCQ_SINGLE, MCQ_MULTI):
        return False
    lines = rec["input"].split("\n")
    idx = [i for i, line in enumerate(lines) if _OPTION_RE.match(line)]
    out = rec["output"]
    if len(idx) < 2 or not out.startswith(ANSWER_PREFIX):
        return False
    letters = [_OPTION_RE.match(lines[i]).group(1) for i in idx]  # type: ignore[union-attr]
    texts = [_OPTION_RE.match(lines[i]).group(2) for i in idx]  # type: ignore[union-attr]
    head, _, rest = out[len(ANSWER_PREFIX) :].partition("\n")
    answer = head.strip()
    if not answer or any(ch not in letters for ch in answer):
        return False
    h = hashlib.blake2b(f"{seed}:{rec['id']}".encode(), digest_size=8).hexdigest()
    order = list(range(len(letters)))
    random.Random(int(h, 16)).shuffle(order)  # new position j holds old option order[j]
    if target is not None and len(answer) == 1:
        gold = letters.index(answer)
        j = target % len(letters)
        k = order.index(gold)
        order[j], order[k] = order[k], order[j]
    for j, i in enumerate(idx):
        lines[i] = f"{letters[j]}. {texts[order[j]]}"
    moved = {letters[old]: letters[new] for new, old in enumerate(order)}
    new_answer = "".join(sorted(moved[ch] for ch in answer))
    rec["input"] = "\n".join(lines)
    # An explanation that names letters would now name the wrong ones: keep only the answer.
    rec["output"] = (
        ANSWER_PREFIX + new_answer + ("\n" + rest if rest and not re.search(r"[A-H]", rest) else "")
    )
    return True


def balance_mcq(recs: list[dict[str, Any]], seed: int) -> int:
    """Shuffle every MCQ record; single-answer ones get their right option at A, B, C, D in
    turn, in an order seeded by their ids. Returns how many records were shuffled."""
    singles = [
        r
        for r in recs
        if r.get("instruction") == MCQ_SINGLE
        and len(str(r.get("output", ""))[len(ANSWER_PREFIX) :].split("\n", 1)[0].strip()) == 1
    ]
    key = {
        id(r): hashlib.blake2b(f"{seed}:{r['id']}".encode(), digest_size=8).hexdigest()
        for r in singles
    }
    turn = {id(r): i % 4 for i, r in enumerate(sorted(singles, key=lambda r: key[id(r)]))}
    return sum(shuffle_mcq(r, seed, turn.get(id(r))) for r in recs)


def letter_distribution(recs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Answer letters of the single-answer MCQ records, and of the multi-answer ones."""
    single: Counter[str] = Counter()
    multi: Counter[str] = Counter()
    for rec in recs:
        if rec.get("instruction") not in (MCQ_SINGLE, MCQ_MULTI):
            continue
        head = str(rec.get("output", ""))[len(ANSWER_PREFIX) :].split("\n", 1)[0].strip()
        (single if len(head) == 1 else multi)[head] += 1
    return {"single": dict(sorted(single.items())), "multi": dict(multi.most_common(12))}
