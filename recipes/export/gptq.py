"""GPTQ 4-bit (group size 128) export of the merged HF model for the vLLM backend on GPU hosts.

GPTQ calibrates every layer on a GPU (gptqmodel); there is no CPU path. ``mode``:
``auto`` exports when CUDA and gptqmodel are present and otherwise says why not, ``on`` fails
without them, ``off`` skips. The export is a model directory of its own,
``models/<name>-gptq/``: the HF files and a ``manifest.json`` (role ``hf``, the source's chat
template, stops, generation defaults and statute index), so
``serve --backend vllm --model <name>-gptq`` finds it by name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from legal_edge.models.manifest import ModelFile, ModelManifest


class GPTQError(RuntimeError):
    """GPTQ export was required (``gptq: on``) but cannot run here."""


def gptq_unavailable_reason() -> str | None:
    """Why GPTQ cannot run on this host, or None when it can."""
    try:
        import torch
    except ImportError:
        return "GPTQ export needs torch with CUDA; torch is not installed"
    if not torch.cuda.is_available():
        return (
            "GPTQ 4-bit export needs a CUDA GPU (gptqmodel calibrates on the GPU); this host "
            "has none, so no GPTQ model was written. Run the export on a GPU host for vLLM."
        )
    if importlib.util.find_spec("gptqmodel") is None:
        return "GPTQ export needs the gptqmodel package on this CUDA host: pip install gptqmodel"
    return None


def export_gptq(
    merged_hf_dir: Path,
    out_dir: Path,
    calibration: list[str],
    *,
    bits: int = 4,
    group_size: int = 128,
) -> Path:
    """Quantize the merged HF checkpoint with GPTQ and save it where vLLM can load it."""
    from gptqmodel import GPTQModel, QuantizeConfig

    model = GPTQModel.load(str(merged_hf_dir), QuantizeConfig(bits=bits, group_size=group_size))
    model.quantize(calibration)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return out_dir


def write_gptq_manifest(
    out_dir: Path, source: ModelManifest, *, bits: int = 4, group_size: int = 128
) -> Path:
    """``out_dir/manifest.json`` for the exported HF directory: served by name with vLLM, with
    the source model's prompt format, sampling defaults and statute index."""
    manifest = ModelManifest(
        name=out_dir.name,
        base_model=source.base_model,
        files=[ModelFile(role="hf", path=".")],
        chat_template=source.chat_template,
        stop=list(source.stop),
        context_length=source.context_length,
        quantization=f"gptq-{bits}bit-g{group_size}",
        license=source.license,
        generation=source.generation,
        statutes_index=source.statutes_index,
        description=f"{source.name} merged, GPTQ-quantized for vLLM by legal-recipes export.",
        stage="export",
        training=source.training,
        extra={"source_model": source.name},
    )
    return manifest.write(out_dir)


def maybe_export_gptq(
    mode: str,
    merged_hf_dir_fn,
    out_dir: Path,
    calibration: list[str],
    source: ModelManifest,
) -> dict[str, Any]:
    """Run or skip GPTQ per ``mode``; the result's ``message`` goes into the report."""
    if mode == "off":
        return {"status": "off", "message": "GPTQ export is off (gptq: off)."}
    reason = gptq_unavailable_reason()
    if reason:
        if mode == "on":
            raise GPTQError(reason)
        return {"status": "skipped", "message": reason}
    path = export_gptq(merged_hf_dir_fn(), out_dir, calibration)
    write_gptq_manifest(path, source)
    return {
        "status": "done",
        "path": str(path),
        "message": (
            f"GPTQ 4-bit group-128 model written to {path}; serve it with "
            f"`serve --backend vllm --model {path.name}`."
        ),
    }
