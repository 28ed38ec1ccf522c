"""The feedback loop end to end: chat -> feedback with a correction -> export -> prepare-data.

A real uvicorn server (echo backend) is asked through the openai SDK; a lawyer corrects one
answer and rejects another without a correction; ``legal-edge feedback export`` writes JSONL;
``prepare-data`` reads it next to ten real consultation rows: the correction is a training
record with its own ``source``, the bare rejection is reported and never trained on.
"""

from __future__ import annotations

import json

import httpx
import openai
from click.testing import CliRunner

from legal_edge.cli import main
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from recipes.prepare_data import run as prepare_data
from recipes.prepare_data.config import Config, DedupConfig, SourceConfig
from tests.conftest import LEGAL_DATA
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import echo_runtime

QUESTION = "公司在试用期内没有任何理由就辞退了我，这样合法吗？我能要求赔偿吗？"
CORRECTION = (
    "不合法。根据《劳动合同法》第三十九条和第二十一条，用人单位在试用期内解除劳动合同，"
    "须证明劳动者不符合录用条件，并向劳动者说明理由；违法解除的，劳动者可以要求继续履行"
    "或者依照第八十七条要求支付赔偿金。"
)
REJECTED = "邻居家的树枝伸到我家院子里，我可以直接砍掉吗？"


def test_feedback_becomes_training_data(tmp_path, legal_data):
    db = tmp_path / "feedback.db"
    # the loop needs the conversation text, which the admin must choose to keep
    settings = Settings(backend="echo", feedback_db=db, response_retention_days=30)
    app = create_app(settings, runtimes=[echo_runtime("legal-echo")])
    with live_server(app) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        first = sdk.chat.completions.create(
            model="legal-echo",
            messages=[
                {"role": "system", "content": "你是律师助理。"},
                {"role": "user", "content": QUESTION},
            ],
        )
        second = sdk.chat.completions.create(
            model="legal-echo", messages=[{"role": "user", "content": REJECTED}]
        )
        for body in (
            {
                "response_id": first.id,
                "rating": "down",
                "correction": CORRECTION,
                "tags": ["wrong_law"],
            },
            {"response_id": second.id, "rating": "down", "tags": ["unhelpful"]},
        ):
            r = httpx.post(f"{url}/v1/feedback", json=body, timeout=10)
            assert r.status_code == 200, r.text

    out = tmp_path / "feedback.jsonl"
    res = CliRunner().invoke(main, ["feedback", "export", "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 training rows" in res.output
    assert "1 negative ratings without a correction" in res.output

    cfg = Config(
        output_dir=tmp_path / "data",
        data_root=LEGAL_DATA,
        plots=False,
        sources=(
            SourceConfig(
                name="feedback", path=str(out), format="messages", license="office-internal"
            ),
            SourceConfig(
                name="consult_single",
                path="qa/lawyer_llama_single_turn.jsonl",
                format="alpaca",
                license="research-only",
                limit=10,
            ),
        ),
        dedup=DedupConfig(near=False),
    )
    data_dir = prepare_data(cfg)
    records = [
        json.loads(line)
        for name in ("train.jsonl", "val.jsonl")
        for line in (data_dir / name).read_text(encoding="utf-8").splitlines()
    ]
    fb = [r for r in records if r["source"] == "feedback"]
    assert len(fb) == 1
    assert fb[0]["output"] == CORRECTION
    assert fb[0]["instruction"] == QUESTION or fb[0]["messages"][-2]["content"] == QUESTION
    assert fb[0]["license"] == "office-internal"
    assert sum(r["source"] != "feedback" for r in records) >= 5  # the real rows are there too
    everything = (data_dir / "train.jsonl").read_text(encoding="utf-8") + (
        data_dir / "val.jsonl"
    ).read_text(encoding="utf-8")
    assert REJECTED not in everything  # rated down without a correction: not trained on
    report = json.loads((tmp_path / "feedback.report.json").read_text(encoding="utf-8"))
    assert report["negatives"][0]["response_id"] == second.id
