"""Issue 17 figure: multiple choice scored by log-likelihood through a live legal-edge server
(the evaluation's ``http`` backend) against llama.cpp in-process (``gguf`` backend), on the same
model: same predictions, how close the scores are, how long each takes.

    .venv/bin/python bench/http_loglik.py --model gemma3-270m --items 20 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a file: tests.fixtures is importable from the checkout

from legal_edge.server.app import create_app  # noqa: E402
from legal_edge.settings.server import Settings  # noqa: E402
from recipes.evaluate import ModelSpec  # noqa: E402
from recipes.evaluate.backends.gguf import GGUFBackend  # noqa: E402
from recipes.evaluate.backends.http import HTTPBackend  # noqa: E402
from recipes.evaluate.items import load_mcq_jsonl  # noqa: E402
from recipes.evaluate.mcq import ANSWER_PREFIX, candidates, messages_for  # noqa: E402
from tests.fixtures.live_server import live_server  # noqa: E402

MCQ = REPO.parent / "shared/legal-data/mcq/jecqa_train.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m", help="a model directory under models/")
    ap.add_argument("--items", type=int, default=20, help="single-answer JEC-QA questions")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    items = [it for it in load_mcq_jsonl(MCQ).items if it.data["kind"] == "single"]
    items = items[: args.items]
    spec = ModelSpec(
        name=args.model, path=str(REPO / "models" / args.model), n_threads=args.threads
    )
    local = GGUFBackend.from_spec(spec)
    settings = Settings(
        model=args.model,
        models_dir=REPO / "models",
        n_threads=args.threads,
        n_parallel=2,
        n_ctx=2048,
    )
    diffs: list[float] = []
    same = 0
    walls = {"gguf": 0.0, "http": 0.0}
    try:
        with live_server(create_app(settings), timeout=300) as url:
            remote = HTTPBackend(url)
            for it in items:
                msgs, cands = messages_for(it, []), candidates(it)
                t0 = time.monotonic()
                here = local.loglikelihoods(msgs, cands, prefill=ANSWER_PREFIX)
                t1 = time.monotonic()
                there = remote.loglikelihoods(msgs, cands, prefill=ANSWER_PREFIX)
                walls["gguf"] += t1 - t0
                walls["http"] += time.monotonic() - t1
                diffs += [abs(a - b) for a, b in zip(here, there, strict=True)]
                same += max(range(len(cands)), key=here.__getitem__) == max(
                    range(len(cands)), key=there.__getitem__
                )
            source = remote.template_source
            remote.close()
    finally:
        local.close()
    print(
        json.dumps(
            {
                "model": args.model,
                "items": len(items),
                "same_prediction": same,
                "mean_abs_diff": round(sum(diffs) / len(diffs), 4),
                "max_abs_diff": round(max(diffs), 4),
                "gguf_s": round(walls["gguf"], 1),
                "http_s": round(walls["http"], 1),
                "template_source": source,
            }
        )
    )


if __name__ == "__main__":
    main()
