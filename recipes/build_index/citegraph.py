"""How often the corpus itself cites each law and article: a prior that needs no labels.

Judicial interpretations, regulations and other laws cite the articles practice turns on
(刑法、民事诉讼法、民法典 lead); a question that does not name its law is most often about one
of those. Only in-force articles count as citing, and a law citing itself does not count.
"""

from __future__ import annotations

from collections import Counter

from legal_edge.statutes.citations import find_named_articles
from legal_edge.statutes.names import AliasTable


def cite_counts(rows: list[dict]) -> None:
    """Set ``law_cites`` and ``article_cites`` on every row."""
    aliases = AliasTable.of_titles({r["law"] for r in rows})
    laws: Counter[str] = Counter()
    articles: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r["status"] != "in_force" or "条" not in r["text"]:
            continue
        for title, number in find_named_articles(r["text"], aliases.resolve):
            if title != r["law"]:
                laws[title] += 1
                articles[(title, number)] += 1
    for r in rows:
        r["law_cites"] = laws[r["law"]]
        r["article_cites"] = articles[(r["law"], r["number"])]
