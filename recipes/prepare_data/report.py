"""The data report: what each source and licence contributed, what each rule dropped (with an
example), how long each step took, where dedup and decontamination stood.

One Jinja template over the run's figures, rendered by ``recipes.shared.report``; the plots are
PNG files beside it (embedded in the HTML twin).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from legal_edge.prompts import record_to_messages
from recipes.shared.prompt_formats import ANSWER_PREFIX, MCQ_MULTI, MCQ_SINGLE
from recipes.shared.records import public
from recipes.shared.report import render_markdown

from .config import Config
from .state import RunState

TEMPLATE = """\
# Data preparation report: `{{ cfg.output_dir }}`

{{ now }} UTC, {{ "%.1f" | format(elapsed) }} s. **{{ n_train }} train**, \
**{{ n_val }} validation**, **{{ n_rejected }} rejected** \
(see `rejected.jsonl`: rule, reason, origin `file:line`).

## Sources

{{ sources | table(["source (config)", "rows read", "train", "val", "rejected", \
"synthesized from it"]) }}

## Licences (what each contributed)

{{ licences | table(["licence", "train", "val", "rejected"]) }}

A commercially clean set is one switch away: `--set allow_licenses=[...]` or \
`--set exclude_sources=[...]`.

## Categories

{{ categories | table(["category", "train", "val"]) }}
{% if "categories" in plots %}

![categories](plots/categories.png)
{% endif %}

## Rejections per rule

{{ rules | table(["rule", "count", "example origin", "example reason"]) }}
{% if "rejections" in plots %}

![rejections](plots/rejections.png)
{% endif %}

## Deduplication, synthesis, PII, decontamination

- near-dup candidate pairs checked: {{ dedup.get("candidate_pairs", 0) }}; pairs kept apart \
because their numbers (or MCQ answers) differ: {{ dedup.get("number_trap_saves", 0) }}; \
split groups: {{ dedup.get("groups", 0) }}
- synthesized from statutes: {{ synthesis }}
- PII redacted: {{ pii or "none found" }}
- evaluation files (items): {{ eval_files or "none configured" }}
- contaminated records dropped: {{ decontam or "none" }}
{% if decoded_as %}
- files decoded as non-UTF-8: {{ decoded_as }}
{% endif %}

## Prompt formats

- multiple choice: instruction `{{ mcq_single }}` (or `{{ mcq_multi }}`), input = question + \
`A. …` lines, output starts with `{{ answer_prefix }}<letters>`.
- harmful requests: a templated refusal naming the reason; alignment pairs: `chosen`.

## One training example per category

{% for line in examples %}
{{ line }}
{% endfor %}

## Timing (records/s per step)

{{ timings | table(["step", "records", "seconds", "records/s"]) }}
{% if "lengths" in plots %}

![lengths](plots/lengths.png)
{% endif %}
"""


def build_report(
    cfg: Config,
    state: RunState,
    train: list,
    val: list,
    counts: dict[str, Any],
    elapsed: float,
    plots: dict[str, Path],
) -> str:
    rej = counts["rejected_per_rule"]
    licences = sorted(
        set(counts["train_per_license"])
        | set(counts["val_per_license"])
        | set(counts["rejected_per_license"])
    )
    categories = sorted(set(counts["train_per_category"]) | set(counts["val_per_category"]))
    return render_markdown(
        TEMPLATE,
        cfg=cfg,
        now=f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        elapsed=elapsed,
        n_train=len(train),
        n_val=len(val),
        n_rejected=sum(rej.values()),
        sources=[
            [
                s,
                n,
                counts["train_per_source_config"].get(s, 0),
                counts["val_per_source_config"].get(s, 0),
                counts["rejected_per_source_config"].get(s, 0),
                counts["synthetic_per_source_config"].get(s, 0),
            ]
            for s, n in state.read_counts.items()
        ],
        licences=[
            [
                lic,
                counts["train_per_license"].get(lic, 0),
                counts["val_per_license"].get(lic, 0),
                counts["rejected_per_license"].get(lic, 0),
            ]
            for lic in licences
        ],
        categories=[
            [c, counts["train_per_category"].get(c, 0), counts["val_per_category"].get(c, 0)]
            for c in categories
        ],
        rules=_rule_rows(state, rej),
        plots=plots,
        dedup=state.dedup,
        synthesis=dict(state.synthesis),
        pii=dict(state.pii_counts),
        eval_files=state.eval_files,
        decontam=dict(state.decontam),
        decoded_as=state.decoded_as,
        mcq_single=MCQ_SINGLE,
        mcq_multi=MCQ_MULTI,
        answer_prefix=ANSWER_PREFIX,
        examples=_examples(train),
        timings=[[t.name, t.records, f"{t.seconds:.2f}", f"{t.rate:.0f}"] for t in state.timings],
    )


def _rule_rows(state: RunState, rejected_per_rule: dict[str, int]) -> list[list[Any]]:
    """Each rule with its count and the first record it dropped (origin and reason)."""
    first: dict[str, Any] = {}
    for r in state.rejected:
        first.setdefault(r.rule, r)
    return [
        [rule, n, first[rule].origin, first[rule].reason[:120]]
        for rule, n in Counter(rejected_per_rule).most_common()
    ]


def _examples(train: list) -> list[str]:
    seen: dict[str, dict[str, Any]] = {}
    for r in train:
        seen.setdefault(r["category"], r)
    lines = []
    for cat in sorted(seen):
        msgs = record_to_messages(public(seen[cat]))
        turns = " / ".join(f"{m['role']}: {m['content'][:140]}" for m in msgs[:2])
        lines.append(f"- **{cat}** (`{seen[cat]['id']}`): {turns.replace(chr(10), ' ')}")
    return lines
