"""Calibrate the support check's threshold (``legal_edge.statutes.support.THRESHOLD``).

    .venv/bin/python -m recipes.bench.citation_support --index runs/index/statutes \
        [--qa ../shared/legal-data/qa/lawyer_llama_single_turn.jsonl] [--json out.json]

Real answers: the consultations' reference answers, written by lawyers or checked by them, whose
citations resolve to an article in force. Each citation's claim (``support.claims``: the words
after it in its sentence, else before it) is compared with

- the cited article itself (``own``): a restatement scores high, an application of the law low;
- the articles the server would have given beside it: the top 3 retrieved for the question and
  the cited article's neighbours (N-1, N+1 of the same law, the closest in wording), ``other``.

A claim the check calls misattributed (``other >= T`` and ``other >= own + margin``) is
``flagged``: the references are partly machine-written and some cite an article by its number
before a revision, so a flag is read by hand to tell a false alarm from a real mismatch
(docs/measurements/2026-12-07-citation-support.md). And each claim that
restates its article (``own >= 0.8``) is put under a neighbour's number instead, as the model did
in issue 25: the check catches the swap when the true article scores ``>= T`` and beats the
neighbour by the margin. For each threshold and margin: the share of claims counted as
restatements (``own >= T``), flagged, swaps caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from legal_edge.statutes.citations import Citation
from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.numbers import article_key, parse_article
from legal_edge.statutes.support import MARGIN, MIN_CHARS, bigrams, claims, overlap

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def neighbours(index: StatuteIndex, law: str, number: str) -> list[str]:
    main, sub = parse_article(number)
    keys = [article_key(main - 1), article_key(main + 1)] if not sub else [article_key(main)]
    return [rec.text for k in keys if main > 1 and (rec := index.lookup(law, k)) is not None]


def scores(index: StatuteIndex, qa: Path, limit: int) -> list[tuple[float, float, float]]:
    """(own, best other, best neighbour) for each claim of each reference answer."""
    out: list[tuple[float, float, float]] = []
    with open(qa, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            answer = rec.get("output", "")
            checks = [v for v in index.verify_citations(answer) if v.verified]
            if not checks:
                continue
            cites = [Citation(v.law, v.article, v.start, v.end, v.raw, v.form) for v in checks]
            by_start = {v.start: v for v in checks}
            question = "\n".join(x for x in (rec.get("instruction"), rec.get("input")) if x)
            retrieved = None
            for claim in claims(answer, cites):
                words = answer[claim.start : claim.end]
                if len(bigrams(words)) < MIN_CHARS - 1:
                    continue
                art = by_start[claim.cites[0].start].record
                assert art is not None
                if retrieved is None:
                    retrieved = index.search(question, k=3)
                near = [overlap(words, t) for t in neighbours(index, art.law, art.number)]
                others = near + [overlap(words, r.text) for r in retrieved if r.id != art.id]
                out.append((overlap(words, art.text), max(others, default=0.0), max(near or [0])))
            if limit and len(out) >= limit:
                break
    return out


def table(rows: list[tuple[float, float, float]]) -> list[dict[str, float]]:
    n = len(rows)
    restating = [r for r in rows if r[0] >= 0.8]
    out = []
    for t, m in [(t, MARGIN) for t in THRESHOLDS] + [(0.5, 0.0), (0.5, 0.15), (0.5, 0.35)]:
        out.append(
            {
                "threshold": t,
                "margin": m,
                "restatements": round(sum(r[0] >= t for r in rows) / n, 3),
                "flagged": round(sum(t <= r[1] and r[0] + m <= r[1] for r in rows) / n, 4),
                "swaps_caught": round(
                    sum(r[2] + m <= r[0] and t <= r[0] for r in restating) / max(1, len(restating)),
                    3,
                ),
            }
        )
    return out


@click.command()
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=Path("runs/index/statutes")
)
@click.option(
    "--qa",
    type=click.Path(path_type=Path),
    default=Path("../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"),
)
@click.option("--limit", default=2000, show_default=True, help="claims to score (0: all)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(index_dir: Path, qa: Path, limit: int, json_out: Path | None) -> None:
    """Score reference answers' claims against their articles and print the threshold table."""
    index = StatuteIndex(index_dir)
    rows = scores(index, qa, limit)
    report = {
        "qa": str(qa),
        "claims": len(rows),
        "restating_claims": sum(r[0] >= 0.8 for r in rows),
        "table": table(rows),
    }
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    click.echo(text)


if __name__ == "__main__":
    main()
