"""Which letters a model answers, and what always answering one letter would score.

A model that gives the same letter to every question scores the share of that letter in the
set, whatever it knows. So beside every multiple-choice accuracy (per scoring mode) the results
carry:

``letters``            the predicted answers and how often each was given (``""``: no letter
                       could be read from a generated answer).
``const_gold_<mode>``  accuracy of always answering the most frequent gold answer of the items
                       (the best any constant answer can do on them; an upper bound, since it is
                       chosen after seeing the answers).
``const_own_<mode>``   accuracy of always answering the model's own most frequent answer.
``acc_over_const_<mode>``  accuracy minus the better of the two, paired per item, with its
                       bootstrap interval; when the interval reaches 0 the model is *at the
                       constant baseline*: its accuracy is no evidence that it knows anything.

A model that answers ``B`` every time has ``acc == const_own`` exactly and is flagged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from recipes.evaluate.stats import bootstrap, paired_change

MODES = ("loglik", "calibrated", "generate")


def _top(counts: Counter[str]) -> str:
    """The most frequent answer; ties go to the alphabetically first (deterministic)."""
    return min(counts, key=lambda a: (-counts[a], a))


def letter_stats(records: list[dict[str, Any]], mode: str, boot: dict[str, Any]) -> dict | None:
    """Distribution, constant baselines and the model's margin over them for one mode."""
    pairs = [(r[mode]["pred"], r["answer"]) for r in records if mode in r and not r.get("skipped")]
    if not pairs:
        return None
    n = len(pairs)
    given = Counter(p for p, _ in pairs)
    gold_top = _top(Counter(g for _, g in pairs))
    answered = Counter({a: c for a, c in given.items() if a})
    own_top = _top(answered) if answered else ""
    acc = [float(p == g) for p, g in pairs]
    const_gold = [float(g == gold_top) for _, g in pairs]
    const_own = [float(g == own_top) for _, g in pairs]
    best, best_name = (
        (const_gold, "const_gold")
        if sum(const_gold) >= sum(const_own)
        else (const_own, "const_own")
    )
    ones = [1.0] * n
    margin = paired_change(best, ones, acc, ones, **boot)
    return {
        "distribution": {a: given[a] for a in sorted(given, key=lambda a: (-given[a], a))},
        "n": n,
        "own_top": own_top,
        "own_top_share": given[own_top] / n,
        "gold_top": gold_top,
        "best_constant": best_name,
        "const_gold": bootstrap(const_gold, **boot).to_dict(),
        "const_own": bootstrap(const_own, **boot).to_dict(),
        "acc_over_const": {
            "value": margin.delta,
            "ci_low": margin.low,
            "ci_high": margin.high,
            "n": margin.n,
        },
        # not above the best constant answer: the interval of the margin reaches 0 or below
        "at_constant_baseline": margin.low is None or margin.low <= 0,
    }


def add_letter_stats(result: dict[str, Any], records: list[dict[str, Any]], boot: dict) -> None:
    """Put each mode's letter statistics into a model's suite result (``letters`` and the
    ``const_*`` / ``acc_over_const_*`` metrics beside ``acc_*``)."""
    for mode in MODES:
        stats = letter_stats(records, mode, boot)
        if stats is None:
            continue
        result.setdefault("letters", {})[mode] = stats
        for name in ("const_gold", "const_own", "acc_over_const"):
            result["metrics"][f"{name}_{mode}"] = stats[name]


def _share(count: int, n: int) -> str:
    return f"{100 * count / n:.0f}"


def _verdict(stats: dict[str, Any]) -> str:
    high = stats["acc_over_const"]["ci_high"]
    if not stats["at_constant_baseline"]:
        return "above constant baseline"
    return "BELOW CONSTANT BASELINE" if high is not None and high < 0 else "AT CONSTANT BASELINE"


def letter_rows(suite: dict[str, Any], models: list[str]) -> list[list[str]]:
    """Report rows: the predicted-answer distribution, the constant answers, and the verdict."""
    rows: list[list[str]] = []
    for mode in MODES:
        got = [suite["models"][m].get("letters", {}).get(mode) for m in models]
        if not any(got):
            continue
        dist = [f"predicted answers ({mode}), %"]
        answers = [f"constant answers ({mode}): own top / gold top"]
        verdict = [f"vs. constant ({mode})"]
        for s in got:
            if s is None:
                dist.append("–")
                answers.append("–")
                verdict.append("–")
                continue
            shown = list(s["distribution"].items())[:6]
            dist.append(" ".join(f"{a or '∅'} {_share(c, s['n'])}" for a, c in shown))
            answers.append(f"{s['own_top'] or '∅'} / {s['gold_top']}")
            verdict.append(_verdict(s))
        rows += [dist, answers, verdict]
    return rows
