"""Merging a LoRA adapter straight into a base GGUF's tensors (tiny real models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from recipes.export.merge import MergeError, load_peft_adapter, merge_into_gguf
from tests.fixtures.tiny_gguf import END_OF_TURN_ID, write_tiny_gguf


def _tensors(path: Path) -> dict[str, np.ndarray]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {
        t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        for t in reader.tensors
    }


def test_base_alone_round_trips_exactly_and_gains_template(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf")  # no chat template, F32 tensors
    out = merge_into_gguf(
        base,
        None,
        tmp_path / "out.gguf",
        outtype="f32",
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
        name="x",
    )
    assert out["merged_tensors"] == []
    a, b = _tensors(base), _tensors(tmp_path / "out.gguf")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    meta = read_gguf_metadata(tmp_path / "out.gguf")
    assert meta["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE
    assert meta["tokenizer.ggml.eot_token_id"] == END_OF_TURN_ID
    assert meta["general.name"] == "x"
    assert meta["file_type_name"] == "F32"


def test_merged_tensors_are_base_plus_scaled_lora(tiny_trained: Path, tmp_path: Path) -> None:
    manifest = json.loads((tiny_trained / "manifest.json").read_text())
    base = Path(manifest["training"]["base"]["gguf"])
    info = merge_into_gguf(
        base,
        tiny_trained / "peft",
        tmp_path / "m.gguf",
        outtype="f32",
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
    )
    deltas = {d.module: d for d in load_peft_adapter(tiny_trained / "peft")}
    assert len(info["merged_tensors"]) == len(deltas) == 14  # 7 projections x 2 layers
    before, after = _tensors(base), _tensors(tmp_path / "m.gguf")
    d = deltas["model.layers.1.self_attn.q_proj"]
    assert d.scale == pytest.approx(2.0)  # alpha 8 / r 4
    np.testing.assert_allclose(
        after["blk.1.attn_q.weight"], before["blk.1.attn_q.weight"] + d.delta(), atol=1e-5
    )
    assert np.abs(d.delta()).max() > 1e-3  # the adapter really changes the weights
    for untouched in ("token_embd.weight", "output.weight", "blk.0.attn_norm.weight"):
        np.testing.assert_array_equal(after[untouched], before[untouched])


def test_f16_merge_loads_in_llama_cpp_with_end_of_turn_as_eog(
    tiny_trained: Path, tmp_path: Path
) -> None:
    import llama_cpp

    manifest = json.loads((tiny_trained / "manifest.json").read_text())
    out = tmp_path / "m16.gguf"
    merge_into_gguf(
        Path(manifest["training"]["base"]["gguf"]),
        tiny_trained / "peft",
        out,
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
    )
    assert read_gguf_metadata(out)["file_type_name"] == "F16"
    llm = open_llama(str(out), n_ctx=64, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    assert llama_cpp.llama_vocab_eot(vocab) == END_OF_TURN_ID
    assert llama_cpp.llama_vocab_is_eog(vocab, END_OF_TURN_ID)
    assert llm.metadata["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE
    llm.close()


def test_unknown_stop_token_is_refused(tmp_path: Path) -> None:
    base = write_tiny_gguf(tmp_path / "base.gguf")
    with pytest.raises(MergeError, match="<\\|im_end\\|>"):
        merge_into_gguf(base, None, tmp_path / "o.gguf", chat_template="x", stop=["<|im_end|>"])
    assert not (tmp_path / "o.gguf").exists()


def test_adapter_without_weights_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(MergeError, match="not a PEFT adapter"):
        load_peft_adapter(tmp_path)
