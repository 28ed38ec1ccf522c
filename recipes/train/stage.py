"""Fine-tune a base model with LoRA on prepared legal data; write a servable model directory.

``legal-recipes train --config recipes/configs/train/<name>.yaml [--set key=value ...]``

Output (``output_dir``, default ``models/<name>``): ``adapter.gguf`` (the LoRA adapter llama.cpp
applies over the base GGUF at run time), ``peft/`` (the PEFT adapter), ``loss_curve.png`` and
``manifest.json`` (base sha256, data manifest, config, chat template, final losses, versions;
paths relative to the directory). Checkpoints live in ``work_dir`` (default
``runs/train/<name>``); rerunning the same command after an interruption resumes from the latest
one. The same module runs unchanged under ``accelerate launch`` (multi-GPU, DeepSpeed ZeRO; see
``recipes/accelerate/``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from legal_edge.models.manifest import ModelManifest, file_entry
from legal_edge.settings.loader import to_dict
from recipes.shared.manifest import TrainedBase, TrainingRecord, library_versions
from recipes.shared.paths import relative_to_manifest, remove_stale_temps

from .adapter_gguf import convert_adapter
from .config import Config
from .loop import Result, train
from .plan import Plan, prepare
from .plots import plot_losses

# The libraries whose versions the model manifest records.
PACKAGES = ("torch", "transformers", "peft", "accelerate", "gguf", "llama-cpp-python", "legal-edge")


def run(cfg: Config) -> Path:
    """Train (or resume), then write the adapter GGUF and manifest; return the model directory."""
    plan = prepare(cfg)
    result = train(plan)
    return finalize(plan, result)


def training_record(plan: Plan, result: Result, out: Path) -> TrainingRecord:
    """The manifest's ``training`` section; paths relative to ``out``."""
    cfg = plan.cfg
    bm = plan.base.manifest
    gguf = plan.base.gguf
    return TrainingRecord(
        fingerprint=plan.fingerprint,
        base=TrainedBase(
            gguf=relative_to_manifest(gguf, out) if gguf else None,
            sha256=plan.base.gguf_sha256,
            # from a GGUF, the HF directory is its dequantized copy in this machine's cache
            hf_dir=None if gguf else relative_to_manifest(plan.base.hf_dir, out),
            name=bm.base_model if bm else plan.base.model_type,
        ),
        data=plan.data_info,
        config=to_dict(cfg),
        lora=dataclasses.asdict(cfg.lora),
        chat_template_source=plan.base.template_source,
        total_steps=plan.total_steps,
        **result.outcome(),
        precision=plan.precision,
        loss=cfg.loss,
        peft_dir="peft",
        loss_curve="loss_curve.png",
        versions=library_versions(PACKAGES),
    )


def finalize(plan: Plan, result: Result) -> Path:
    """Adapter GGUF + loss curve + manifest in ``output_dir``."""
    cfg = plan.cfg
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, plan.work_dir):  # what a killed run's atomic writes left
        remove_stale_temps(folder)
    peft_dir = out / "peft"
    result.save_adapter(peft_dir)
    plot_losses(result.history, out / "loss_curve.png", title=plan.name)
    files = []
    if plan.base.gguf is not None:
        files.append(file_entry(out, plan.base.gguf, "model"))
    if cfg.convert_gguf:
        adapter = convert_adapter(
            peft_dir, plan.base.hf_dir, out / "adapter.gguf", outtype=cfg.gguf_outtype
        )
        files.append(file_entry(out, adapter, "adapter"))
    bm = plan.base.manifest
    licences = plan.data_info.get("licenses") or []
    manifest = ModelManifest(
        name=plan.name,
        base_model=bm.base_model if bm else plan.base.model_type,
        files=files,
        chat_template=plan.base.template,
        stop=list(plan.base.stop),
        context_length=bm.context_length if bm else plan.base.context_length,
        quantization=bm.quantization if bm else None,
        license=(bm.license if bm else None),
        license_file=(
            relative_to_manifest(bm.directory / bm.license_file, out)
            if bm and bm.license_file and bm.directory
            else None
        ),
        description=cfg.description
        or f"LoRA adapter trained by legal-recipes train on {plan.data_info.get('train_file')}",
        stage="train",
        # the config's measured sampling defaults, else the base's (loop controls)
        generation=cfg.generation or (bm.generation if bm else None),
        statutes_index=cfg.statutes_index or None,
        training=training_record(plan, result, out).to_dict(),
        extra={"data_licenses": licences} if licences else {},
    )
    manifest.write(out)
    return out
