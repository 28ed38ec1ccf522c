"""The shipped legal adapter (models/legal-gemma3-270m): complete, loadable, and legal-shaped."""

from __future__ import annotations

import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.manifest import ModelManifest
from legal_edge.prompts import render_chat
from tests.conftest import MODELS_DIR

SHIPPED = MODELS_DIR / "legal-gemma3-270m"
MCQ = (
    "以下是法律考试的单项选择题，请选出唯一正确的答案。\n\n"
    "根据我国《民法典》，自然人的民事权利能力始于何时？\n\n"
    "A. 出生\nB. 成年\nC. 登记户口\nD. 取得身份证"
)


def test_shipped_manifest_is_complete():
    m = ModelManifest.read(SHIPPED)
    assert m.stage == "train" and m.file("adapter").path == "adapter.gguf"
    assert m.file("model").path == "../gemma3-270m/gemma-3-270m-q4_k_m.gguf"
    assert (SHIPPED / "adapter.gguf").stat().st_size < 20_000_000
    assert m.stop == ["<end_of_turn>"] and "<start_of_turn>" in m.chat_template
    t = m.training
    for key in ("base", "data", "config", "final_train_loss", "final_val_loss", "versions"):
        assert t.get(key) is not None, key
    assert t["final_val_loss"] < t["initial_val_loss"]


@pytest.mark.slow
def test_shipped_adapter_loads_over_the_base_and_answers(default_base_gguf):
    m = ModelManifest.read(SHIPPED)
    m.verify_files(check_hash=True)
    llm = open_llama(
        str(m.model_path),
        lora_path=str(m.adapter_path),
        n_ctx=1024,
        n_threads=2,
        verbose=False,
        seed=0,
    )
    prompt = render_chat(m.chat_template, [{"role": "user", "content": MCQ}])
    out = llm(prompt, max_tokens=16, temperature=0.0, stop=m.stop)["choices"][0]["text"]
    assert out.strip().startswith("答案：") and out.strip()[3:4] in "ABCD", out
