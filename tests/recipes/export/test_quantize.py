"""llama.cpp quantization of a merged tiny model: every type tiny shapes allow keeps metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
from recipes.export.merge import merge_into_gguf
from recipes.export.quantize import QuantizeError, ftype_of, quantize_gguf
from tests.fixtures.tiny_gguf import END_OF_TURN_ID

# rows of 256 (the tiny_trained model) fit K-quant super-blocks; Q8_0 needs rows of 32
TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0"]


@pytest.fixture(scope="module")
def merged_f16(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    manifest = json.loads((tiny_trained / "manifest.json").read_text())
    out = tmp_path_factory.mktemp("q") / "merged-f16.gguf"
    merge_into_gguf(
        Path(manifest["training"]["base"]["gguf"]),
        tiny_trained / "peft",
        out,
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=["<end_of_turn>"],
    )
    return out


@pytest.mark.parametrize("qtype", TYPES)
def test_quantized_file_keeps_template_and_end_of_turn(
    merged_f16: Path, tmp_path: Path, qtype: str
) -> None:

    out = quantize_gguf(merged_f16, tmp_path / f"m-{qtype}.gguf", qtype)
    meta = read_gguf_metadata(out)
    assert meta["file_type_name"] == qtype
    assert meta["tokenizer.chat_template"] == GEMMA_CHAT_TEMPLATE
    assert meta["tokenizer.ggml.eot_token_id"] == END_OF_TURN_ID
    assert out.stat().st_size < merged_f16.stat().st_size
    llm = open_llama(str(out), n_ctx=64, verbose=False)
    text = llm.create_completion("the court held", max_tokens=4, temperature=0.0)
    assert text["usage"]["completion_tokens"] >= 1
    llm.close()


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(QuantizeError, match="Q4_K_M"):
        ftype_of("Q4_K_Z")
    assert ftype_of("q4_k_m") == 15 and ftype_of("Q8_0") == 7
