"""Answers caught in a loop, and answers that end on their own.

A small model that has lost its way repeats itself: greedy decoding falls into an exact cycle
(``醉酒驾驶罪是指驾驶违反酒驾管理规定，`` twenty times until ``max_tokens``); with repetition
penalties the cycle loosens into near-copies. Neither is style. Legal writing repeats phrases
(``根据《中华人民共和国刑法》第…条``) and enumerates (``第一…第二…第三…``), but every item adds
something new. So an answer is **caught in a loop** when either

* **exact**: a unit of text is repeated back to back at least ``MIN_COPIES`` (3) times and the
  repetition covers at least ``MIN_SPAN`` (40) characters, anywhere in the answer (a cut last
  copy counts as a fraction). Three copies: two are a stutter; 40 characters: a repeated word or
  ``哈哈哈`` is not a loop, ``、非法抵押、非法担保`` ×33 is. The unit must hold a non-space
  character (blank lines are formatting).
* **tail**: the last ``TAIL_WINDOW`` (300) characters are at least ``TAIL_SHARE`` (75 %) covered
  by ``NGRAM``-character (4) strings that each occur ``MIN_COPIES`` times or more in that window:
  the end of the answer says little it has not already said twice. This catches the loops that
  repetition penalties leave behind, where each cycle swaps a word or two (``学校应当及时通知学生
  和其他地区，并提供必要的補習證明。`` then ``…其他地区的领导…``) and no exact period exists.
  Four characters, because such cycles keep only short pieces intact.

On the 9,693 reference answers of ``qa/lawyer_llama_single_turn.jsonl`` this flags 4 (0.04 %):
two are degenerate GPT answers in the data (one ends in ``、非法抵押、非法担保`` ×33, one lists
``被强制隔离治疗…的人员`` for a dozen diseases until it is cut), two are templated tiers
(``…是罗马法的第三位大成者…`` per item, 81 %; ``伤残程度为70%以上但不足80%，赔偿比例为65%`` per
step, 77 %). Every other reference tail is under 75 %; the near-copy loops of the shipped model
under DRY measured 79–91 %.

**Ended on its own**: ``finish_reason == "stop"`` with fewer completion tokens than
``max_tokens`` (the model chose to end, the budget did not end it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

MIN_COPIES = 3
MIN_SPAN = 40
MAX_UNIT = 200  # longer cycles than this are not looked for (none seen in 512-token answers)
TAIL_WINDOW = 300
NGRAM = 4
TAIL_SHARE = 0.75


@dataclass(frozen=True)
class Loop:
    """Where an answer loops: ``unit`` repeated ``copies`` times from character ``start``."""

    kind: str  # "exact" (back-to-back copies) | "tail" (the tail repeats its own n-grams)
    unit: str  # the repeated text (exact), or the tail's most frequent n-gram (tail)
    copies: float  # back-to-back copies (exact), or that n-gram's count in the tail (tail)
    start: int  # character offset where the repetition (or the tail window) starts
    share: float = 1.0  # share of the tail window covered by repeated n-grams (tail)


def exact_loop(
    text: str, min_copies: int = MIN_COPIES, min_span: int = MIN_SPAN, max_unit: int = MAX_UNIT
) -> Loop | None:
    """The shortest unit repeated back to back ``min_copies``+ times over ``min_span``+ chars."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    n = len(codes)
    for unit in range(1, min(max_unit, n // min_copies) + 1):
        # a stretch of period ``unit`` is a run of positions equal to the one ``unit`` later
        need = max((min_copies - 1) * unit, min_span - unit)
        if need > n - unit:
            break
        same = codes[:-unit] == codes[unit:]
        if int(same.sum()) < need:
            continue
        edges = np.diff(np.concatenate(([0], same.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for s, e in zip(starts, ends, strict=True):
            piece = text[s : s + unit]
            if e - s >= need and piece.strip():
                return Loop("exact", piece, round((e - s + unit) / unit, 1), int(s))
    return None


def tail_loop(
    text: str,
    window: int = TAIL_WINDOW,
    ngram: int = NGRAM,
    share: float = TAIL_SHARE,
    min_copies: int = MIN_COPIES,
) -> Loop | None:
    """The tail, when ``share`` of it is covered by n-grams it repeats ``min_copies``+ times."""
    if len(text) < window:
        return None
    start = len(text) - window
    tail = text[start:]
    grams = [tail[i : i + ngram] for i in range(window - ngram + 1)]
    counts = Counter(grams)
    covered = np.zeros(window, dtype=bool)
    for i, g in enumerate(grams):
        if counts[g] >= min_copies:
            covered[i : i + ngram] = True
    got = float(covered.mean())
    if got < share:
        return None
    top, count = counts.most_common(1)[0]
    return Loop("tail", top, float(count), start, round(got, 3))


def find_loop(text: str) -> Loop | None:
    """Why ``text`` counts as caught in a loop, or None (see the module docstring)."""
    return exact_loop(text) or tail_loop(text)


def caught_in_loop(text: str) -> bool:
    return find_loop(text) is not None


def ended_on_its_own(finish_reason: str | None, completion_tokens: int, max_tokens: int) -> bool:
    """The model ended the answer (end of turn / EOS / a stop string) before ``max_tokens``."""
    return finish_reason == "stop" and completion_tokens < max_tokens
