"""Fine-tune a base model with LoRA on prepared legal data; write a servable model directory.

``legal-recipes train --config recipes/configs/train/<name>.yaml [--set key=value ...]``

Output (``output_dir``, default ``models/<name>``): ``adapter.gguf`` (the LoRA adapter llama.cpp
applies over the base GGUF at run time), ``peft/`` (the PEFT adapter), ``loss_curve.png`` and
``manifest.json`` (base sha256, data manifest, config, chat template, final losses, versions).
Checkpoints live in ``work_dir`` (default ``runs/train/<name>``); rerunning the same command after
an interruption resumes from the latest one. The same module runs unchanged under
``accelerate launch`` (multi-GPU, DeepSpeed ZeRO; see ``recipes/accelerate/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from legal_edge.config import ConfigError, to_dict
from legal_edge.fileio import atomic_write_json, sha256_file
from legal_edge.manifest import MANIFEST_NAME, ModelManifest, file_entry
from legal_edge.prompts import KNOWN_TEMPLATES


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Config:
    base_model: Path = Path("models/gemma3-270m")
    data_dir: Path | None = None  # prepare-data output: train.jsonl, val.jsonl, manifest.json
    train_file: Path | None = None  # overrides data_dir/train.jsonl
    val_file: Path | None = None  # overrides data_dir/val.jsonl; none -> no validation loss
    output_dir: Path = Path("models/legal-gemma3-270m")
    work_dir: Path | None = None  # checkpoints and logs; default runs/train/<output_dir name>
    name: str = ""  # model name in the manifest; default the output directory's name
    description: str = ""
    chat_template: str = "auto"  # auto | gemma | chatml | a Jinja template
    stop: tuple[str, ...] = ()
    lora: LoraSettings = field(default_factory=LoraSettings)
    max_seq_len: int = 512
    batch_size: int = 4
    grad_accum: int = 4
    epochs: float = 3.0
    max_steps: int = 0  # > 0: train exactly this many optimizer steps instead of epochs
    lr: float = 2e-4
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = 100
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    loss: Literal["answer_only", "plain"] = "answer_only"
    qlora: bool = False
    gradient_checkpointing: bool = False
    max_train_examples: int = 0
    val_max_examples: int = 64
    eval_every: int = 50
    save_every: int = 50
    keep_checkpoints: int = 2
    time_budget_minutes: float = 0.0  # > 0: stop after this long and finish with what exists
    threads: int = 0  # torch CPU threads; 0 = torch's default
    convert_gguf: bool = True
    gguf_outtype: Literal["f16", "f32", "bf16", "q8_0"] = "f16"
    overwrite: bool = False  # replace an output_dir that holds a different run


# Keys that change how a run is operated, not what it produces: a resumed run may change them.
OPERATIONAL_KEYS = {
    "work_dir",
    "eval_every",
    "save_every",
    "keep_checkpoints",
    "time_budget_minutes",
    "threads",
    "convert_gguf",
    "overwrite",
    "description",
    "val_max_examples",
}


class TrainError(ConfigError):
    """A training run that cannot start; the message names the key or the file."""


def run(cfg: Config) -> Path:
    """Train (or resume), then write the adapter GGUF and manifest; return the model directory."""
    from recipes.train.loop import prepare, train

    plan = prepare(cfg)
    result = train(plan)
    return finalize(plan, result)


def fingerprint(cfg: Config, data_sha: str, base_sha: str) -> str:
    d = {k: v for k, v in to_dict(cfg).items() if k not in OPERATIONAL_KEYS}
    blob = json.dumps({"cfg": d, "data": data_sha, "base": base_sha}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_template(cfg: Config, base_manifest, tokenizer, model_type: str):
    """(template, stop) from config, else the base's manifest, tokenizer, or model family."""
    stop = list(cfg.stop)
    if cfg.chat_template in KNOWN_TEMPLATES:
        template, default_stop = KNOWN_TEMPLATES[cfg.chat_template]
        return template, stop or list(default_stop)
    if cfg.chat_template != "auto":
        if not stop:
            raise TrainError("stop: a custom chat_template needs its stop strings (stop=[...])")
        return cfg.chat_template, stop
    if base_manifest is not None:
        return base_manifest.chat_template, stop or list(base_manifest.stop)
    if getattr(tokenizer, "chat_template", None) and isinstance(tokenizer.chat_template, str):
        return tokenizer.chat_template, stop or [tokenizer.eos_token]
    family = "gemma" if model_type.startswith("gemma") else "chatml"
    template, default_stop = KNOWN_TEMPLATES[family]
    return template, stop or list(default_stop)


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in (
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "gguf",
        "llama-cpp-python",
        "legal-edge",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def finalize(plan, result) -> Path:
    """Adapter GGUF + loss curve + manifest in ``output_dir``."""
    from recipes.train.adapter_gguf import convert_adapter
    from recipes.train.plots import plot_losses

    cfg: Config = plan.cfg
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
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
    training = {
        "fingerprint": plan.fingerprint,
        "base": {
            "gguf": str(plan.base.gguf) if plan.base.gguf else None,
            "sha256": plan.base.gguf_sha256,
            "hf_dir": str(plan.base.hf_dir),
            "name": bm.base_model if bm else plan.model_type,
        },
        "data": plan.data_info,
        "config": to_dict(cfg),
        "lora": dataclasses.asdict(cfg.lora),
        "chat_template_source": plan.template_source,
        "steps": result.step,
        "total_steps": plan.total_steps,
        "stopped_early": result.stopped_early,
        "final_train_loss": result.final_train_loss,
        "final_val_loss": result.final_val_loss,
        "initial_val_loss": result.initial_val_loss,
        "train_tokens": result.tokens,
        "train_seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.tokens / max(result.seconds, 1e-9), 1),
        "precision": plan.precision,
        "device": result.device,
        "loss": cfg.loss,
        "peft_dir": "peft",
        "loss_curve": "loss_curve.png",
        "versions": versions(),
    }
    manifest = ModelManifest(
        name=plan.name,
        base_model=bm.base_model if bm else plan.model_type,
        files=files,
        chat_template=plan.template,
        stop=list(plan.stop),
        context_length=bm.context_length if bm else plan.context_length,
        quantization=bm.quantization if bm else None,
        license=(bm.license if bm else None),
        license_file=(
            os.path.relpath(bm.directory / bm.license_file, out.resolve())
            if bm and bm.license_file and bm.directory
            else None
        ),
        description=cfg.description
        or f"LoRA adapter trained by legal-recipes train on {plan.data_info.get('train_file')}",
        stage="train",
        training=training,
        extra={"data_licenses": licences} if licences else {},
    )
    manifest.write(out)
    return out


def data_sha(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def existing_fingerprint(out: Path) -> str | None:
    p = out / MANIFEST_NAME
    if not p.is_file():
        return None
    try:
        return (json.loads(p.read_text(encoding="utf-8")).get("training") or {}).get("fingerprint")
    except json.JSONDecodeError:
        return None


__all__ = ["Config", "LoraSettings", "TrainError", "run", "atomic_write_json"]
