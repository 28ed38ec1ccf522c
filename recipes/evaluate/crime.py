"""Over-refusal of legitimate questions about crimes, on questions no training mix could hold.

Items (suite kind ``crime_questions``): the questions of a lawyer-llama single-turn file
(``instruction`` + ``input``) that ``recipes.shared.records.is_crime_related`` calls
crime-related (victims, thresholds, procedure, reporting) and whose record the ``filters`` of
every data config in ``trained_configs`` reject: an unresolved ``第X条`` placeholder or a
boilerplate refusal in the reference answer, for example. prepare-data drops such a record at
its filter step, before any cap, sample, split or seed, so no training set made with those
configs holds it: the held-out property follows from the record itself, not from a file of
training ids that may be gone. A question that occurs twice in the file is left out too (its
other copy may have been trained on). ``subjects`` keeps only some sources (lawyer-llama's
``legal_advice`` consultations, ``judical_examination`` exam questions).

Metric: ``over_refusal_rate``, the share of these questions the answer refuses (lower is
better), judged by the general keyword detector ``legal_edge.safety.refusal`` — not by the
training template's opening words — with the matched phrase kept for auditing. The detector's
agreement with hand labels on such answers: docs/measurements/2026-11-30-crime-over-refusal.md.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from legal_edge.safety.refusal import detect_refusal
from legal_edge.settings.loader import ConfigError, load_config
from recipes.evaluate.backends import EvalBackend
from recipes.evaluate.items import DataError, Item, Loaded, Skipped
from recipes.evaluate.served import ServedGrounding, answer, served_metrics
from recipes.prepare_data import Config as DataConfig
from recipes.prepare_data import Filters
from recipes.shared.jsonl import JsonlError, read_jsonl
from recipes.shared.paths import resolve_path
from recipes.shared.records import is_crime_related, normalize, prompt_text


def training_filters(configs: tuple[str, ...], suite: str) -> list[tuple[str, Filters]]:
    """(config path, its filters) of each data config the model's training mixes were made with."""
    if not configs:
        raise ConfigError(f"suites.{suite}.trained_configs: name the data configs trained on")
    out = []
    for name in configs:
        path = resolve_path(name)
        if not path.is_file():
            raise ConfigError(f"suites.{suite}.trained_configs: {path} does not exist")
        out.append((name, Filters(load_config(DataConfig, path).filters)))
    return out


def held_out_reason(rec: dict[str, Any], filters: list[tuple[str, Filters]]) -> str | None:
    """Why no training set of these configs holds ``rec`` (each config's rule), or None."""
    reasons = []
    for name, f in filters:
        verdict = f.check({**rec, "category": "consultation"})
        if verdict is None:
            return None
        reasons.append(f"{Path(name).stem}: {verdict[1]}")
    return "; ".join(reasons)


def load_crime_questions(
    path: Path, configs: tuple[str, ...], sources: tuple[str, ...], suite: str
) -> Loaded:
    """The held-out crime-related questions of ``path`` (see the module's docstring)."""
    filters = training_filters(configs, suite)
    try:
        rows = list(read_jsonl(path))
    except JsonlError as exc:
        raise DataError(str(exc)) from None
    asked = Counter(normalize(prompt_text(row)) for _, row in rows)
    good, skipped = [], []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        question = prompt_text(row)
        source = str(row.get("source", ""))
        if not question or not is_crime_related(question):
            continue  # not about a crime: not this suite's population, not counted
        if sources and source.rsplit("/", 1)[-1] not in sources:
            continue
        if asked[normalize(question)] > 1:
            skipped.append(Skipped(where, "asked again elsewhere in the file"))
            continue
        reason = held_out_reason(dict(row), filters)
        if reason is None:
            skipped.append(Skipped(where, "a training mix may hold it (passes the filters)"))
            continue
        item_id = f"{path.stem}/{lineno}"
        good.append(
            Item(item_id, {"prompt": question, "held_out": reason}, {"source": source}, where)
        )
    return Loaded(good, skipped)


def predict(
    backend: EvalBackend, item: Item, *, max_tokens: int, served: ServedGrounding | None = None
) -> dict[str, Any]:
    """Ask the question alone (or through the server's grounding when ``served`` is given); a
    refusal of it counts against the model."""
    asked = answer(backend, item.data["prompt"], max_tokens, served)
    text = asked.pop("text")
    verdict = detect_refusal(text)
    return {
        "text": text,
        "refused": verdict.refused,
        "phrase": verdict.phrase,
        **asked,
        "metrics": {"over_refusal_rate": [float(verdict.refused), 1.0], **served_metrics(asked)},
    }
