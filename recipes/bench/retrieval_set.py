"""A labelled retrieval set: questions whose reference answers cite articles the index holds.

Each ``《…》第…条`` in an answer is resolved against the index (short names, numerals, any
version); a question is kept when at least one citation resolves. Gold keys are
``(official title, article number)``, so a hit on any version of the article counts.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.query import consultation_query


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


# --- the evaluation set of ``legal-recipes bench retrieval`` -------------------------------------

# lawyer_llama's consultations whose answers cite articles (the exam explanations are left out:
# their "question" is an exam item, not a lay question).
CONSULTATION_SOURCES = (
    "lawyer-llama/legal_counsel_with_article_v2",
    "lawyer-llama/zixun_gpt4",
    "lawyer-llama/legal_advice",
)
Key = tuple[str, str]


@dataclass(frozen=True)
class Item:
    """One retrieval question: what the server would search for and the articles it should find."""

    origin: str  # file:line (a multi-turn conversation: file:line#turn)
    kind: str  # single | multi | case
    query: str
    gold: frozenset[Key]
    area: str  # the corpus folder of the first gold article's law (刑法, 民法典, 社会法, ...)
    group: str = ""  # split group (near-duplicate questions share one)


class _Resolver:
    def __init__(self, index: StatuteIndex) -> None:
        self.index = index
        con = sqlite3.connect(f"{index.path.resolve().as_uri()}?mode=ro", uri=True)
        self.category = dict(con.execute("SELECT law, category FROM articles GROUP BY law"))
        con.close()

    def gold(self, text: str) -> frozenset[Key]:
        out = set()
        for c in find_citations(text):
            title = self.index.resolve_law(c.law)
            if title and self.index.versions(title, c.article):
                out.add((title, c.article))
        return frozenset(out)

    def area(self, gold: frozenset[Key]) -> str:
        return self.category.get(sorted(gold)[0][0], "其他")


def consultation_items(index: StatuteIndex, single: Path, multi: Path | None) -> list[Item]:
    """Single-turn consultations with gold articles, and each user turn of a multi-turn one
    whose reply cites articles (the query built as the server builds it, earlier turns after)."""
    res = _Resolver(index)
    out: list[Item] = []
    with open(single, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            rec = json.loads(line)
            if rec.get("source") not in CONSULTATION_SOURCES:
                continue
            gold = res.gold(rec.get("output", ""))
            query = "\n".join(x for x in (rec.get("instruction"), rec.get("input")) if x).strip()
            if gold and query:
                out.append(Item(f"{single.name}:{n}", "single", query, gold, res.area(gold)))
    if multi is None or not multi.is_file():
        return out
    with open(multi, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            msgs = json.loads(line).get("messages", [])
            users: list[str] = []
            for i, m in enumerate(msgs):
                if m.get("role") != "user":
                    continue
                users.append(m.get("content") or "")
                reply = msgs[i + 1].get("content", "") if i + 1 < len(msgs) else ""
                gold = res.gold(reply)
                if gold:
                    origin = f"{multi.name}:{n}#{len(users)}"
                    q = consultation_query(users)
                    out.append(Item(origin, "multi", q, gold, res.area(gold), f"{multi.name}:{n}"))
    return out


def case_items(index: StatuteIndex, cases: Path) -> list[Item]:
    """Typical cases: the facts (``基本案情``) as the query, the articles the write-up cites as
    gold."""
    res = _Resolver(index)
    out = []
    with open(cases, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            text = json.loads(line)["text"]
            m = re.search(r"## 基本案情\s*\n(.*?)(?=\n## |\Z)", text, re.S)
            gold = res.gold(text)
            if m and gold:
                facts = m.group(1).strip()
                out.append(Item(f"{cases.name}:{n}", "case", facts, gold, res.area(gold)))
    return out


def split_items(items: list[Item], test_fraction: float, seed: int = 13) -> dict[str, list[Item]]:
    """The project's leak-free split (``prepare_data.split``): near-duplicate questions (and the
    turns of one conversation) in one group, each group wholly in ``tuning`` or ``test``,
    stratified by area of law. Cases are test-only (a public set kept out of tuning)."""
    from recipes.prepare_data.config import DedupConfig, SplitConfig
    from recipes.prepare_data.dedup import deduplicate
    from recipes.prepare_data.split import split_records

    lay = [it for it in items if it.kind != "case"]
    found = deduplicate([it.query for it in lay], [it.area for it in lay], DedupConfig())
    # exact and near duplicates stay (a retrieval set may ask one thing twice), grouped
    groups = [it.group or str(found.group[i]) for i, it in enumerate(lay)]
    cfg = SplitConfig(val_fraction=test_fraction, max_val_per_category=10**9, seed=seed)
    records = [{"category": it.area} for it in lay]
    tuning, test = split_records(records, groups, cfg)
    return {
        "tuning": [lay[i] for i in tuning],
        "test": [lay[i] for i in test],
        "cases": [it for it in items if it.kind == "case"],
    }
