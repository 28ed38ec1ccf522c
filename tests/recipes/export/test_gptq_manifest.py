"""The GPTQ export's model directory describes itself: served by name with vLLM, with the source
model's prompt format (the GPTQ step itself needs a CUDA GPU; the manifest is checked here on a
directory laid out as gptqmodel saves one)."""

from __future__ import annotations

import json
from pathlib import Path

from legal_edge.models.manifest import ModelManifest, resolve_model
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, GEMMA_STOP
from recipes.export.gptq import maybe_export_gptq, write_gptq_manifest


def source_manifest() -> ModelManifest:
    return ModelManifest(
        name="legal-tiny",
        base_model="google/gemma-3-270m",
        files=[],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=list(GEMMA_STOP),
        context_length=32768,
        generation={"repeat_penalty": 1.1},
        statutes_index="../runs/index/statutes",
    )


def test_gptq_directory_is_served_by_name(tmp_path: Path) -> None:
    out = tmp_path / "models" / "legal-tiny-gptq"
    out.mkdir(parents=True)
    quant = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    config = {"model_type": "gemma3_text", "quantization_config": quant}
    (out / "config.json").write_text(json.dumps(config))
    write_gptq_manifest(out, source_manifest())
    m = resolve_model("legal-tiny-gptq", tmp_path / "models")
    assert m.path_of("hf") == out.resolve() and m.quantization == "gptq-4bit-g128"
    assert m.chat_template == GEMMA_CHAT_TEMPLATE and m.stop == list(GEMMA_STOP)
    assert m.generation == {"repeat_penalty": 1.1}
    assert m.statutes_index == "../runs/index/statutes"  # grounded like its source
    m.verify_files()


def test_off_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "models" / "x-gptq"
    res = maybe_export_gptq("off", lambda: tmp_path, out, [], source_manifest())
    assert res["status"] == "off" and not out.exists()
