"""A fine-tuned model in two forms: HF + PEFT adapter and GGUF + converted LoRA adapter agree."""

import pytest

from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from recipes.evaluate.backends.gguf import GGUFBackend
from recipes.evaluate.backends.hf import HFBackend
from recipes.evaluate.items import load_mcq_jsonl
from recipes.evaluate.mcq import candidates, messages_for


@pytest.mark.slow
def test_peft_adapter_and_gguf_lora_agree(tmp_path, legal_data):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from recipes.train.adapter_gguf import convert_adapter
    from tests.fixtures.tiny_hf import write_tiny_hf

    tiny = write_tiny_hf(tmp_path / "tiny", chat_template=GEMMA_CHAT_TEMPLATE)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32)
    lora = get_peft_model(
        base,
        LoraConfig(
            r=4,
            lora_alpha=8,
            init_lora_weights=False,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        ),
    )
    lora.save_pretrained(tmp_path / "peft")
    adapter = convert_adapter(
        tmp_path / "peft", tiny.hf_dir, tmp_path / "adapter.gguf", outtype="f32"
    )

    items = [
        it
        for it in load_mcq_jsonl(legal_data / "mcq/jecqa_train.jsonl").items
        if len(it.data["question"]) < 60
    ][:3]
    hf = HFBackend(tiny.hf_dir, chat_template=GEMMA_CHAT_TEMPLATE, adapter_dir=tmp_path / "peft")
    plain = GGUFBackend(tiny.gguf, chat_template=GEMMA_CHAT_TEMPLATE, n_ctx=2048, n_threads=1)
    tuned = GGUFBackend(
        tiny.gguf, chat_template=GEMMA_CHAT_TEMPLATE, lora_path=adapter, n_ctx=2048, n_threads=1
    )
    try:
        moved = 0.0
        for it in items:
            msgs, cands = messages_for(it, []), candidates(it)
            with_adapter = tuned.loglikelihoods(msgs, cands)
            assert hf.loglikelihoods(msgs, cands) == pytest.approx(with_adapter, rel=2e-3, abs=2e-3)
            moved += sum(
                abs(a - b)
                for a, b in zip(plain.loglikelihoods(msgs, cands), with_adapter, strict=True)
            )
        assert moved > 0.1  # the adapter really changes the model
    finally:
        plain.close()
        tuned.close()
