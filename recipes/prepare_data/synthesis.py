"""Instruction pairs synthesized from statute articles by templates, without any LLM.

Templates (each marked ``source: synthetic/statutes``, ``category: synthetic_statute``):

- ``which_article``: "《X法》中哪一条规定了“<opening clause>”？" -> the article number and text.
  Only when the opening clause is specific (long enough and unique within the law), so the
  question has one right answer.
- ``chapter``: "《X法》第N条属于哪一编/章？" -> the chapter path (laws with chapters only).
- ``complete``: "请补全《X法》第N条：<first half>……" -> the whole article.

A synthetic record joins its article's split group, so it never sits on the other side of the
split from the article it was made from.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from typing import Any

from recipes.shared.records import make_record

from .config import SynthesisConfig

SOURCE = "synthetic/statutes"
CATEGORY = "synthetic_statute"
TEMPLATES = ("which_article", "chapter", "complete")
CLAUSE_RE = re.compile(r"^(.{8,40}?)[，。；：,;:]")
GENERIC = ("有下列", "下列", "本法", "本条例", "本规定", "本办法", "本解释", "前款", "依照", "除")


def opening_clause(text: str) -> str:
    m = CLAUSE_RE.match(text)
    if not m:
        return ""
    clause = m.group(1)
    return "" if clause.startswith(GENERIC) else clause


def synthesize(
    records: list[dict[str, Any]], cfg: SynthesisConfig
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """New records from the statute records (those with ``_statute`` metadata)."""
    unknown = set(cfg.templates) - set(TEMPLATES)
    if unknown:
        raise ValueError(
            f"synthesis.templates: unknown template {sorted(unknown)[0]!r}; known: {TEMPLATES}"
        )
    stats: Counter[str] = Counter()
    statutes = [r for r in records if r.get("_statute")]
    clauses: dict[str, Counter[str]] = defaultdict(Counter)
    for r in statutes:
        clause = opening_clause(r["_statute"]["text"])
        if clause:
            clauses[r["_statute"]["law"]][clause] += 1
    rng = random.Random(cfg.seed)
    out: list[dict[str, Any]] = []
    for r in statutes:
        meta = r["_statute"]
        made = 0
        for name in rng.sample(list(cfg.templates), len(cfg.templates)):
            if made >= cfg.per_article:
                break
            fields = _make(name, meta, clauses[meta["law"]])
            if fields is None:
                stats[f"skipped:{name}"] += 1
                continue
            made += 1
            stats[name] += 1
            out.append(
                make_record(
                    id=f"{r['id']}~{name}",
                    source=SOURCE,
                    category=CATEGORY,
                    license=r["license"],
                    origin=r["_origin"],
                    parent=r["id"],
                    **fields,
                )
            )
        if cfg.max_records and len(out) >= cfg.max_records:
            stats["capped"] = 1
            break
    return out, stats


def _make(name: str, meta: dict[str, str], clauses: Counter[str]) -> dict[str, str] | None:
    law, art, text, chapter = meta["law"], meta["article"], meta["text"], meta["chapter"]
    if name == "which_article":
        clause = opening_clause(text)
        if not clause or clauses[clause] != 1:
            return None  # generic or shared opening: the question would be ambiguous
        return {
            "instruction": f"《{law}》中哪一条规定了“{clause}”？",
            "output": f"这是《{law}》{art}的规定。该条规定：{text}",
        }
    if name == "chapter":
        if not chapter:
            return None
        where = chapter.replace(" / ", "，")
        return {
            "instruction": f"《{law}》{art}属于哪一编或哪一章？",
            "output": f"《{law}》{art}位于{where}。该条规定：{text}",
        }
    if name == "complete":
        if len(text) < 30:
            return None
        half = text[: len(text) // 2]
        return {"instruction": f"请补全《{law}》{art}的条文：{half}……", "output": text}
    return None
