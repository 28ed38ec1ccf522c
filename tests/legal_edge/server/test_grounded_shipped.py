"""The shipped model, served as installed (its manifest names runs/index/statutes), answers a
legal question grounded: the articles it was given and every citation it made come back in
``citations``, each citation checked, an unverified one marked in the text."""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from legal_edge.statutes.flags import FLAG
from tests.conftest import MODELS_DIR, REPO

pytestmark = pytest.mark.slow
MODEL = "legal-gemma3-270m"
FRAUD = "我被网恋诈骗七千多，怎么处理？"


def test_the_shipped_model_answers_with_checked_citations(default_base_gguf) -> None:
    index = REPO / "runs/index/statutes/index.sqlite3"
    if not index.is_file():
        pytest.fail(f"no statute index at {index}: ./install.sh builds it")
    settings = Settings(model=MODEL, models_dir=MODELS_DIR, n_parallel=1, n_threads=2)
    with TestClient(create_app(settings), timeout=300) as c:
        deadline = time.monotonic() + 300  # the model and the index load in the background
        while c.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the shipped model did not load in 300 s"
            time.sleep(0.5)
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": FRAUD}],
                "max_tokens": 96,
                "temperature": 0,
            },
        )
    assert r.status_code == 200, r.text
    body = r.json()
    answer = body["choices"][0]["message"]["content"]
    cites = body["citations"]
    given = [c for c in cites if c["given"]]
    assert 1 <= len(given) <= Settings().grounding_k, cites
    assert all(c["text"] and c["status"] == "in_force" for c in given)
    # the grounded prompt reached the model: far longer than the question alone
    assert body["usage"]["prompt_tokens"] > 150 and answer.strip()
    for c in cites:
        if c["cited_as"] is None:
            continue
        assert c["verified"] in (True, False) and c["reason"]
        if not c["verified"]:
            assert c["cited_as"] + FLAG.split("{")[0] in answer, (c, answer)
