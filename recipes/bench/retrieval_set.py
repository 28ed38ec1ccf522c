"""A labelled retrieval set: questions whose reference answers cite articles the index holds.

Each ``《…》第…条`` in an answer is resolved against the index (short names, numerals, any
version); a question is kept when at least one citation resolves. Gold keys are
``(official title, article number)``, so a hit on any version of the article counts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.index import StatuteIndex


@dataclass(frozen=True)
class LabelledQuestion:
    origin: str  # file:line
    query: str
    gold: frozenset[tuple[str, str]]  # (law title, number)
    cited: int  # citations in the answer, resolvable or not


def labelled_questions(
    index: StatuteIndex, qa_jsonl: Path, limit: int = 0, seed: int = 0
) -> tuple[list[LabelledQuestion], dict[str, int]]:
    """Questions with at least one gold article (a seeded sample of ``limit``), and counts."""
    out: list[LabelledQuestion] = []
    cited = resolved = 0
    with open(qa_jsonl, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            rec = json.loads(line)
            cites = find_citations(rec.get("output", ""), index.resolve_law)
            gold = set()
            for c in cites:
                title = index.resolve_law(c.law)
                if title and index.versions(title, c.article):
                    gold.add((title, c.article))
            cited += len(cites)
            resolved += sum(1 for c in cites if (index.resolve_law(c.law), c.article) in gold)
            if gold:
                query = "\n".join(
                    x for x in (rec.get("instruction", ""), rec.get("input", "")) if x
                )
                out.append(
                    LabelledQuestion(f"{qa_jsonl.name}:{n}", query, frozenset(gold), len(cites))
                )
    counts = {"questions_with_gold": len(out), "citations": cited, "citations_resolved": resolved}
    if limit and len(out) > limit:
        out = random.Random(seed).sample(out, limit)
    return out, counts
