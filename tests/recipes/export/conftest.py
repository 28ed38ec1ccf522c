"""A tiny trained model directory (GGUF base + random PEFT adapter + GGUF adapter + manifest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE


def write_tiny_trained(root: Path, *, seed: int = 0) -> Path:
    """``root/base`` (tiny GGUF + manifest) and ``root/tuned`` (PEFT + adapter.gguf + manifest).

    Head size 256 like Gemma 3 270M, so transformers' ``query_pre_attn_scalar`` (256) and
    llama.cpp's 1/sqrt(head_dim) agree; rows of 256 so K-quants apply."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from legal_edge.models.manifest import ModelFile, ModelManifest, file_entry
    from recipes.train.adapter_gguf import convert_adapter
    from tests.fixtures.tiny_hf import write_tiny_hf

    tiny = write_tiny_hf(root / "base", seed=seed, n_embd=256, n_head=1, n_head_kv=1, n_ff=512)
    ModelManifest(
        name="tiny-base",
        base_model="tiny-test-model",
        files=[ModelFile(role="model", path=tiny.gguf.name)],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
        context_length=2048,
        quantization="F32",
        license="test-only",
    ).write(root / "base")
    tuned = root / "tuned"
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32)
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=4,
            lora_alpha=8,
            init_lora_weights=False,  # random B: a real, visible change
            target_modules=[
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ],
        ),
    )
    peft_model.save_pretrained(tuned / "peft")
    adapter = convert_adapter(tuned / "peft", tiny.hf_dir, tuned / "adapter.gguf")
    ModelManifest(
        name="tiny-legal",
        base_model="tiny-test-model",
        files=[file_entry(tuned, tiny.gguf, "model"), file_entry(tuned, adapter, "adapter")],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
        context_length=2048,
        quantization="F32",
        license="test-only",
        stage="train",
        training={"peft_dir": "peft", "base": {"gguf": str(tiny.gguf), "hf_dir": str(tiny.hf_dir)}},
    ).write(tuned)
    return tuned


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_trained(tmp_path_factory.mktemp("tiny-trained"))
