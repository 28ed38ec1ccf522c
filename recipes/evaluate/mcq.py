"""Multiple choice (legal exam, case analysis, CMMLU / C-Eval): two scorings, both reported.

``loglik``   as lm-evaluation-harness does for MMLU-style tasks: the prompt ends where the answer
             starts and every candidate answer (``A`` .. ``D``; for multi-answer questions every
             set of letters, ``AB``, ``ACD`` ...) is scored by the log-probability the model
             gives it; the best candidate is the prediction.
``generate`` the model writes its answer (greedy, a few tokens) and the letters are read from it;
             text without any option letter counts as wrong and as ``invalid``.
``calibrated`` ``loglik`` minus each candidate's log-probability after the same question with
             every text replaced by ``N/A`` (contextual calibration, Zhao et al. 2021): a model
             whose letter prior outweighs the question (issue 28: the base and the shipped model
             put ``D`` first for every question) is scored on what the question adds.

Multi-answer questions are right only on the exact set; per-option F1 is reported beside it.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from typing import Any

from legal_edge.prompts import record_to_messages
from legal_edge.statutes.prompt import grounded_question
from recipes.evaluate.backends import EvalBackend
from recipes.evaluate.grounding import describe_articles
from recipes.evaluate.items import Item
from recipes.shared.prompt_formats import ANSWER_PREFIX, mcq_prompt

# Legal questions are asked exactly as training data shows them (``recipes.shared.prompt_formats``):
# instruction + question + option lines as the user turn, ``答案：B`` as the answer. General
# questions (CMMLU) use the same layout without the "law exam" wording.
GENERAL_HEADS = {
    "single": "以下是单项选择题，请选出唯一正确的答案。",
    "multi": "以下是不定项选择题，可能有一个或多个正确答案，请选出全部正确答案。",
}
_ANSWER = re.compile(r"(?<![A-Za-z])([A-H](?:[ \t、,，和及/]*[A-H])*)(?![A-Za-z])")


def question_text(item: Item, general: bool = False) -> str:
    """The user turn for one question (the same text training records have)."""
    multi = item.data["kind"] != "single"
    instruction, body = mcq_prompt(item.data["question"], item.data["options"], multi)
    if general:
        instruction = GENERAL_HEADS["multi" if multi else "single"]
    return record_to_messages({"instruction": instruction, "input": body})[0]["content"]


def candidates(item: Item) -> list[str]:
    letters = list(item.data["options"])
    kind = item.data["kind"]
    if kind == "single":
        return letters
    smallest = 2 if kind == "multi" else 1
    return [
        "".join(c)
        for r in range(smallest, len(letters) + 1)
        for c in itertools.combinations(letters, r)
    ]


def parse_letters(text: str, options: dict[str, str]) -> str:
    """The option letters a generated answer gives (``"A、C"`` -> ``"AC"``); "" when none."""
    head, sep, tail = text.partition(ANSWER_PREFIX)
    m = _ANSWER.search(tail if sep else text)
    if not m:
        return ""
    return "".join(sorted({ch for ch in m.group(1) if ch in options}))


def option_f1(pred: str, gold: str) -> float:
    p, g = set(pred), set(gold)
    if not p or not g:
        return 0.0
    return 2 * len(p & g) / (len(p) + len(g))


def pick_shots(pool: list[Item], shots: int, seed: int, exclude: set[str]) -> dict[str, list[Item]]:
    """Fixed few-shot examples per answer kind (the same for every question of that kind, so the
    shared prompt prefix is computed once); short questions are preferred."""
    out: dict[str, list[Item]] = {}
    if shots <= 0:
        return out
    usable = [it for it in pool if it.id not in exclude and len(it.data["question"]) <= 300]
    rng = random.Random(seed)
    for kind in ("single", "multi", "indefinite"):
        same = [it for it in usable if it.data["kind"] == kind] or usable
        out[kind] = rng.sample(same, min(shots, len(same)))
    return out


def messages_for(
    item: Item, shots: list[Item], general: bool = False, article_chars: int | None = None
) -> list[dict[str, str]]:
    """The chat: few-shot turns, then the question; with ``article_chars`` set, the question is
    grounded in the item's retrieved articles (the shots stay closed-book)."""
    msgs: list[dict[str, str]] = []
    for s in shots:
        msgs.append({"role": "user", "content": question_text(s, general)})
        msgs.append({"role": "assistant", "content": ANSWER_PREFIX + s.data["answer"]})
    text = question_text(item, general)
    if article_chars is not None:
        text = grounded_question(text, item.data.get("articles", []), article_chars)
    msgs.append({"role": "user", "content": text})
    return msgs


CONTENT_FREE = "N/A"


def content_free(item: Item) -> Item:
    """The same question with every text replaced by ``N/A``: the same instruction, letters and
    kind, so its letter scores are the model's prior for this layout."""
    data = {
        **item.data,
        "question": CONTENT_FREE,
        "options": dict.fromkeys(item.data["options"], CONTENT_FREE),
    }
    return Item(item.id + "#content-free", data, item.groups, item.where)


def predict(
    backend: EvalBackend,
    item: Item,
    *,
    modes: tuple[str, ...],
    shots: list[Item],
    max_tokens: int,
    general: bool = False,
    article_chars: int | None = None,
) -> dict[str, Any]:
    """Score one question in every mode; returns the prediction record with per-item metrics.

    Log-likelihood scoring prefills the answer turn with ``答案：`` (as training answers start)
    and scores the letters after it; generation lets the model write the whole answer. With
    ``article_chars`` set the question carries its retrieved articles (``grounded_question``).
    """
    msgs = messages_for(item, shots, general, article_chars)
    gold = item.data["answer"]
    multi = item.data["kind"] != "single"
    rec: dict[str, Any] = {"answer": gold, "kind": item.data["kind"], "metrics": {}}
    if article_chars is not None:
        rec["retrieved"] = describe_articles(item.data.get("articles", []))
    for mode in modes:
        if mode in ("loglik", "calibrated"):
            if not backend.supports_loglik:
                continue
            cands = candidates(item)
            scores = backend.loglikelihoods(msgs, cands, prefill=ANSWER_PREFIX)
            if mode == "calibrated":
                free = messages_for(content_free(item), shots, general, None)
                prior = backend.loglikelihoods(free, cands, prefill=ANSWER_PREFIX)
                scores = [s - p for s, p in zip(scores, prior, strict=True)]
            pred = cands[max(range(len(cands)), key=lambda i: scores[i])]
            rec[mode] = {
                "pred": pred,
                "scores": dict(zip(cands, (round(s, 4) for s in scores), strict=True)),
            }
        else:
            text = backend.generate(msgs, max_tokens)
            pred = parse_letters(text, item.data["options"])
            rec["generate"] = {"pred": pred, "text": text}
            rec["metrics"]["invalid_generate"] = [float(pred == ""), 1.0]
        rec["metrics"][f"acc_{mode}"] = [float(pred == gold), 1.0]
        rec["metrics"][f"acc_{mode}_{'multi' if multi else 'single'}"] = [float(pred == gold), 1.0]
        if multi:
            rec["metrics"][f"option_f1_{mode}"] = [option_f1(pred, gold), 1.0]
    return rec


def baselines(items: list[Item]) -> dict[str, dict[str, Any]]:
    """Accuracy of guessing: uniformly among the candidates, and always the most frequent answer."""
    if not items:
        return {}
    random_acc = sum(1 / len(candidates(it)) for it in items) / len(items)
    freq = Counter(it.data["answer"] for it in items)
    answer, count = freq.most_common(1)[0]
    out: dict[str, dict[str, Any]] = {
        "random": {"acc": random_acc, "n": len(items)},
        "majority": {
            "acc": count / len(items),
            "answer": answer,
            "n": len(items),
            "note": "most frequent answer of the evaluated items (an upper bound)",
        },
    }
    multi = [it for it in items if it.data["kind"] != "single"]
    if multi:
        # Per-option F1 rewards answering every option (JEC-QA: 2-4 of 4 are right), so the
        # multi-answer metrics need this baseline beside them.
        pairs = [("".join(it.data["options"]), it.data["answer"]) for it in multi]
        out["all_options"] = {
            "acc": sum(every == gold for every, gold in pairs) / len(pairs),
            "option_f1": sum(option_f1(every, gold) for every, gold in pairs) / len(pairs),
            "answer": "every option",
            "n": len(multi),
            "note": "multi-answer items only: exact-set accuracy and per-option F1",
        }
    return out
