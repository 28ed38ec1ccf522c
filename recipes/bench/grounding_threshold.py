"""Calibrate the server's retrieval score threshold (setting ``grounding_min_score``).

    .venv/bin/python -m recipes.bench.grounding_threshold --index runs/index/statutes \
        [--qa ../shared/legal-data/qa/lawyer_llama_single_turn.jsonl] [--limit 300] \
        [--cmmlu ../shared/general-eval/cmmlu/test] [--json out.json]

Legal side: the labelled retrieval set (``retrieval_set``): the score ``StatuteIndex.search``
gives each gold article it finds in the top 10, and each question's best score. Other side:
questions no statute answers: CMMLU questions of subjects far from the law, and everyday chat
written here. For each candidate threshold: the share of gold hits kept, of legal questions left
with no article (the server would answer "nothing found"), and of other questions stopped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import numpy as np

from legal_edge.statutes.index import StatuteIndex
from recipes.bench.retrieval_set import labelled_questions
from recipes.build_index.calibrate import OFF_TOPIC

# Subjects with no legal content (law, politics, civil service, ethics, driving rules left out).
CMMLU_SUBJECTS = (
    "agronomy",
    "anatomy",
    "astronomy",
    "chinese_food_culture",
    "chinese_literature",
    "college_mathematics",
    "computer_science",
    "conceptual_physics",
    "genetics",
    "high_school_chemistry",
    "high_school_geography",
    "nutrition",
    "sports_science",
    "traditional_chinese_medicine",
    "world_history",
)
CHAT = OFF_TOPIC  # the everyday messages the build's calibration uses too
THRESHOLDS = (0.0, 5.0, 6.0, 7.0, 7.5, 8.0, 8.5, 9.0, 10.0, 12.0, 15.0, 20.0)


def cmmlu_questions(folder: Path, per_subject: int) -> list[str]:
    out = []
    for subject in CMMLU_SUBJECTS:
        with open(folder / f"{subject}.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))[:per_subject]
        out += [r["Question"] for r in rows]
    return out


def best_scores(ix: StatuteIndex, questions: list[str], k: int) -> np.ndarray:
    """Each question's best BM25 score (0 when nothing matches; direct look-ups skipped)."""
    out = []
    for q in questions:
        scores = [h.score for h in ix.search(q, k) if h.score is not None]
        out.append(max(scores, default=0.0))
    return np.array(out, np.float64)


def pct(values: np.ndarray, qs: tuple[int, ...] = (5, 10, 25, 50, 75, 90, 95)) -> dict:
    return {f"p{q}": round(float(np.percentile(values, q)), 2) for q in qs} if len(values) else {}


@click.command()
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=Path("runs/index/statutes")
)
@click.option(
    "--qa",
    type=click.Path(path_type=Path),
    default=Path("../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"),
)
@click.option(
    "--cmmlu", type=click.Path(path_type=Path), default=Path("../shared/general-eval/cmmlu/test")
)
@click.option("--limit", default=300, show_default=True, help="legal questions (seeded sample)")
@click.option("--per-subject", default=10, show_default=True, help="CMMLU questions per subject")
@click.option("--k", default=10, show_default=True, help="articles retrieved per question")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(
    index_dir: Path,
    qa: Path,
    cmmlu: Path,
    limit: int,
    per_subject: int,
    k: int,
    json_out: Path | None,
) -> None:
    """Print score distributions and, per threshold, what it keeps and what it stops."""
    ix = StatuteIndex(index_dir)
    ix.warm()
    legal, counts = labelled_questions(ix, qa, limit)
    gold_scores, legal_best = [], []
    for q in legal:
        hits = ix.search(q.query, k)
        scored = [h.score for h in hits if h.score is not None]
        legal_best.append(max(scored, default=0.0))
        gold_scores += [
            h.score for h in hits if h.score is not None and (h.law, h.number) in q.gold
        ]
    gold = np.array(gold_scores, np.float64)
    best = np.array(legal_best, np.float64)
    general = best_scores(ix, cmmlu_questions(cmmlu, per_subject), k)
    chat = best_scores(ix, list(CHAT), k)
    rows = []
    for t in THRESHOLDS:
        rows.append(
            {
                "threshold": t,
                "gold_hits_kept": round(float((gold >= t).mean()), 3),
                "legal_nothing_found": round(float((best < t).mean()), 3),
                "general_stopped": round(float((general < t).mean()), 3),
                "chat_stopped": round(float((chat < t).mean()), 3),
            }
        )
    report = {
        "legal_questions": len(legal),
        "labelled_set": counts,
        "gold_hits_in_top_k": len(gold),
        "general_questions": len(general),
        "chat_questions": len(chat),
        "k": k,
        "gold_hit_score": pct(gold),
        "legal_best_score": pct(best),
        "general_best_score": pct(general),
        "chat_best_score": pct(chat),
        "thresholds": rows,
    }
    click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    if json_out:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
