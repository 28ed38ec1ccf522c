"""Decontamination: drop training records whose prompt overlaps evaluation data.

Evaluation files (JSONL/JSON rows or CMMLU/C-Eval style CSV) are read into a set of character
n-grams over normalized text (no spaces or punctuation, NFKC, lower case). A record is
contaminated when at least ``min_overlap`` of its prompt's n-grams (and at least ``min_matches``
of them, so a short prompt that only names a law is not flagged) occur in evaluation text;
fixed prompt headers (the MCQ instruction) are left out so they cannot dilute the overlap.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from recipes.shared.paths import resolve_under
from recipes.shared.records import normalize, prompt_text

from .config import DecontamConfig
from .readers import decode

TITLE_RE = re.compile(r"《[^》]{1,80}》")
TEXT_KEYS = ("question", "Question", "prompt", "instruction", "input", "query", "text")
OPTION_KEYS = ("A", "B", "C", "D", "E")


def eval_paths(cfg: DecontamConfig, root: Path) -> list[Path]:
    out: list[Path] = []
    for pattern in cfg.eval_files:
        p = resolve_under(root, pattern)
        if any(ch in pattern for ch in "*?["):
            out.extend(
                sorted(Path(x) for x in glob.glob(str(p), recursive=True) if Path(x).is_file())
            )
        elif p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.suffix in (".jsonl", ".json", ".csv")))
        else:
            out.append(p)
    return out


def row_text(row: dict[str, Any]) -> str:
    parts = [str(row[k]) for k in TEXT_KEYS if isinstance(row.get(k), str)]
    opts = row.get("options")
    if isinstance(opts, dict):
        parts.extend(str(v) for v in opts.values())
    parts.extend(str(row[k]) for k in OPTION_KEYS if isinstance(row.get(k), str))
    return "\n".join(parts)


def read_eval_texts(path: Path) -> Iterator[str]:
    """Question texts of one evaluation file; unreadable lines are skipped (counted by caller)."""
    text, _ = decode(path.read_bytes())
    if path.suffix.lower() == ".csv":
        for row in csv.DictReader(io.StringIO(text)):
            yield row_text(row)
        return
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        rows: Iterable[Any] = json.loads(text)
    else:
        rows = (json.loads(ln) for ln in text.splitlines() if ln.strip())
    for row in rows:
        if isinstance(row, dict):
            yield row_text(row)


def ngrams(text: str, n: int) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


class Decontaminator:
    """Holds the evaluation n-grams; ``check(record)`` returns (eval file, overlap) or None."""

    def __init__(self, cfg: DecontamConfig, root: Path, headers: Iterable[str] = ()) -> None:
        self.cfg = cfg
        self.index: dict[str, int] = {}
        self.files = eval_paths(cfg, root)
        self.items_per_file: Counter[str] = Counter()
        self.headers = sorted({normalize(h) for h in headers if h}, key=len, reverse=True)
        for k, path in enumerate(self.files):
            for t in read_eval_texts(path):
                self.items_per_file[str(path)] += 1
                for g in ngrams(normalize(t), cfg.ngram):
                    self.index.setdefault(g, k)

    def check(self, rec: dict[str, Any]) -> tuple[str, float] | None:
        if not self.index:
            return None
        # Law titles (《…》) are names, not content: a prompt that only names a law an evaluation
        # question also names is no leak.
        text = normalize(TITLE_RE.sub("", prompt_text(rec)))
        for h in self.headers:
            if text.startswith(h):
                text = text[len(h) :]
                break
        grams = ngrams(text, self.cfg.ngram)
        if not grams:
            return None
        hits = Counter(self.index[g] for g in grams if g in self.index)
        if not hits:
            return None
        matched = sum(hits.values())
        overlap = matched / len(grams)
        if overlap < self.cfg.min_overlap or matched < self.cfg.min_matches:
            return None
        return str(self.files[hits.most_common(1)[0][0]]), overlap
