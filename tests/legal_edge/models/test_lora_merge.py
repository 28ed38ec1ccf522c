"""Merging a llama.cpp LoRA GGUF into a base GGUF's tensors (tiny real models, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from legal_edge.models.lora_merge import MergeError, load_gguf_adapter, write_merged_gguf
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from tests.fixtures.tiny_gguf import write_tiny_gguf, write_tiny_lora


def _tensors(path: Path) -> dict[str, np.ndarray]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {
        t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        for t in reader.tensors
    }


def _last_logits(model: Path, lora: Path | None, text: str) -> np.ndarray:
    from legal_edge.backends.llamacpp.cpu_mode import open_llama

    llm = open_llama(model, lora_path=str(lora) if lora else None, n_ctx=128, logits_all=True)
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)])
    llm.close()
    return out


def test_merged_tensors_are_base_plus_alpha_over_rank_lora(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf")
    lora = write_tiny_lora(tmp_path / "lora.gguf", rank=4, alpha=8.0)
    deltas = load_gguf_adapter(lora)
    assert len(deltas) == 8  # q/k/v/o x 2 layers
    assert {d.scale for d in deltas.values()} == {2.0}  # alpha 8 / rank 4, as llama.cpp applies
    info = write_merged_gguf(
        base, deltas, tmp_path / "m.gguf", outtype="f32", chat_template="x", stop=[]
    )
    assert info["merged_tensors"] == sorted(deltas)
    before, after = _tensors(base), _tensors(tmp_path / "m.gguf")
    d = deltas["blk.1.attn_q.weight"]
    np.testing.assert_allclose(
        after["blk.1.attn_q.weight"], before["blk.1.attn_q.weight"] + d.delta(), atol=1e-6
    )
    assert np.abs(d.delta()).max() > 1e-2  # the adapter really changes the weights
    for untouched in ("token_embd.weight", "output.weight", "blk.0.ffn_up.weight"):
        np.testing.assert_array_equal(after[untouched], before[untouched])


def test_f32_merge_computes_what_the_run_time_adapter_computes(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf")
    lora = write_tiny_lora(tmp_path / "lora.gguf")
    merged = tmp_path / "m.gguf"
    write_merged_gguf(
        base, load_gguf_adapter(lora), merged, outtype="f32", chat_template="x", stop=[]
    )
    text = "根据民法典的规定，合同当事人应当履行义务。"
    with_adapter = _last_logits(base, lora, text)
    np.testing.assert_allclose(_last_logits(merged, None, text), with_adapter, atol=2e-3)
    # and the adapter matters: without it the logits are elsewhere
    assert np.abs(_last_logits(base, None, text) - with_adapter).max() > 0.5


def test_a_base_model_is_not_an_adapter(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf")
    with pytest.raises(MergeError, match="not a LoRA adapter"):
        load_gguf_adapter(base)


def test_an_adapter_for_another_shape_is_refused_by_name(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf", chat_template=GEMMA_CHAT_TEMPLATE)
    lora = write_tiny_lora(tmp_path / "lora.gguf", n_embd=128)
    with pytest.raises(
        MergeError, match=r"blk\.0\.attn_q\.weight: adapter delta \(128, 128\) != base \(64, 64\)"
    ):
        write_merged_gguf(
            base, load_gguf_adapter(lora), tmp_path / "o.gguf", chat_template="x", stop=[]
        )
    assert not (tmp_path / "o.gguf").exists()
