"""Checkpoints small enough to write often: the LoRA weights, optimizer, scheduler and RNG.

The RNG state includes the GPU's generator when training on CUDA: LoRA dropout draws from it
there, so a run resumed without it would drop other units than the uninterrupted run.

A checkpoint is ``<work_dir>/checkpoints/step-<N>/``; ``state.json`` is written last, so a
directory without it (the run was killed while saving) is ignored on resume. Under DeepSpeed the
optimizer is sharded across processes and accelerate's own ``save_state`` is used instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, replaced_atomically

STATE = "state.json"


def _dir(work: Path) -> Path:
    return work / "checkpoints"


def latest_checkpoint(work: Path) -> Path | None:
    done = [p for p in _dir(work).glob("step-*") if (p / STATE).is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def _deepspeed(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def save_checkpoint(
    work: Path,
    step: int,
    accelerator,
    model,
    optimizer,
    scheduler,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    import torch
    from peft import get_peft_model_state_dict

    target = _dir(work) / f"step-{step:06d}"
    accelerator.wait_for_everyone()
    if _deepspeed(accelerator):
        accelerator.save_state(str(target / "accelerate"))
    elif accelerator.is_main_process:
        target.mkdir(parents=True, exist_ok=True)
        lora = get_peft_model_state_dict(accelerator.unwrap_model(model))
        with replaced_atomically(target / "train_state.pt") as tmp:  # whole or absent
            torch.save(
                {
                    "lora": lora,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(),
                    "cuda_rng": (
                        torch.cuda.get_rng_state(accelerator.device)
                        if accelerator.device.type == "cuda"
                        else None
                    ),
                },
                tmp,
            )
    if accelerator.is_main_process:
        atomic_write_json(target / STATE, {**state, "scheduler": scheduler.state_dict()})
        done = sorted(
            (p for p in _dir(work).glob("step-*") if (p / STATE).is_file()),
            key=lambda p: int(p.name.split("-")[1]),
        )
        for old in done[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


def load_checkpoint(path: Path, accelerator, model, optimizer, scheduler) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict

    state = json.loads((path / STATE).read_text(encoding="utf-8"))
    if _deepspeed(accelerator):
        accelerator.load_state(str(path / "accelerate"))
        scheduler.load_state_dict(state["scheduler"])
    else:
        blob = torch.load(path / "train_state.pt", map_location="cpu", weights_only=False)
        set_peft_model_state_dict(accelerator.unwrap_model(model), blob["lora"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        torch.set_rng_state(blob["rng"])
        if blob.get("cuda_rng") is not None and accelerator.device.type == "cuda":
            torch.cuda.set_rng_state(blob["cuda_rng"], accelerator.device)
    state.pop("scheduler", None)
    return state
