"""The training loop: steps, validation, checkpoints, resume.

``train`` runs through accelerate, so the same code runs on one CPU and under ``accelerate
launch`` on several GPUs (DDP or DeepSpeed ZeRO). The learning rate follows transformers'
schedules (linear warmup, then cosine, linear or constant); the scheduler's state is in every
checkpoint, so a resumed run continues on the same curve.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json
from recipes.shared.base_model import load_model

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import Config, TrainError
from .data import collate
from .plan import Plan

# config name -> transformers scheduler name (every one with linear warmup first)
SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


@dataclass
class Result:
    step: int
    history: dict[str, list]
    tokens: int
    seconds: float
    stopped_early: bool
    final_train_loss: float | None
    final_val_loss: float | None
    initial_val_loss: float | None
    device: dict[str, Any] = field(default_factory=dict)  # what it trained on (manifest)
    model: Any = field(repr=False, default=None)
    accelerator: Any = field(repr=False, default=None)

    def outcome(self) -> dict[str, Any]:
        """What the run achieved, as the manifest's training section records it."""
        losses = ("final_train_loss", "final_val_loss", "initial_val_loss")
        rate = round(self.tokens / max(self.seconds, 1e-9), 1)
        return {
            **{name: getattr(self, name) for name in ("stopped_early", "device", *losses)},
            **{"steps": self.step, "train_tokens": self.tokens},
            **{"train_seconds": round(self.seconds, 1), "tokens_per_second": rate},
        }

    def save_adapter(self, directory: Path) -> None:
        """Save the PEFT adapter (fp16 weights: half the size, what the GGUF holds anyway)."""
        import torch

        model = self.accelerator.unwrap_model(self.model)
        tmp = directory.with_name(f".{directory.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(
            tmp,
            state_dict={
                k: v.detach().to(torch.float16).cpu().contiguous()
                for k, v in _adapter_state(model).items()
            },
        )
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)


def _adapter_state(model) -> dict:
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model)


def _precision(cfg: Config) -> str:
    import torch

    if cfg.precision != "auto":
        return cfg.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # bf16 autocast is fast on CPUs with AVX-512 BF16 / AMX and still correct elsewhere.
    cpu = torch.backends.cpu.get_cpu_capability()
    return "bf16" if "AVX512" in cpu.upper() or "AMX" in cpu.upper() else "fp32"


def _device_info(accelerator) -> dict[str, Any]:
    """The device a run trained on, for its manifest: type, card or CPU, processes."""
    import platform

    import torch

    dev = accelerator.device
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    else:  # the instruction level decides CPU speed and the bf16 choice (_precision)
        name = f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}"
    return {"type": dev.type, "name": name, "processes": accelerator.num_processes}


def make_scheduler(optimizer, cfg: Config, total_steps: int):
    from transformers import get_scheduler

    return get_scheduler(
        SCHEDULES[cfg.lr_schedule],
        optimizer,
        num_warmup_steps=cfg.warmup_steps,
        num_training_steps=total_steps,
    )


def build_model(plan: Plan):
    import torch
    from peft import LoraConfig, get_peft_model

    cfg = plan.cfg
    torch.manual_seed(cfg.seed)
    model = load_model(
        plan.base.hf_dir,
        quantize_4bit=cfg.qlora,
        device_map={"": int(os.environ.get("LOCAL_RANK", "0"))} if cfg.qlora else None,
    )
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        if cfg.init_adapter is not None:
            from peft import PeftModel

            return PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise TrainError(f"lora.target_modules: {exc}") from None


def _accelerator(plan: Plan):
    """A fresh accelerate ``Accelerator`` for this run's precision and accumulation."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    cfg = plan.cfg
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # A single process may train several times (the pipeline, tests) with different
        # precisions; accelerate keeps its state per process, so start each run afresh.
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    accelerator = Accelerator(
        mixed_precision="no" if plan.precision == "fp32" else plan.precision,
        gradient_accumulation_steps=cfg.grad_accum,
    )
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        ds = accelerator.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = cfg.batch_size
    return accelerator


def validation_loss(model, plan: Plan, accelerator) -> float | None:
    """Mean answer-token loss over the validation examples (None without any)."""
    import torch

    from .loss import LOSSES

    if not plan.val:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(plan.val), plan.cfg.batch_size):
            chunk = plan.val[i : i + plan.cfg.batch_size]
            batch = {
                k: v.to(accelerator.device)
                for k, v in collate(chunk, plan.base.tokenizer.pad_token_id).items()
            }
            with accelerator.autocast():
                loss, n = LOSSES["answer_only"](model, batch)
            total += float(loss.detach()) * n
            count += n
    model.train()
    return total / max(count, 1)


def _optimizer_step(plan: Plan, step: int, accelerator, model, optimizer, params, loss_fn):
    """This process's micro-batches of one optimizer step; returns (mean loss, tokens)."""
    cfg = plan.cfg
    per_step = cfg.grad_accum * accelerator.num_processes
    rank = accelerator.process_index
    group = plan.micro_batches[step * per_step : (step + 1) * per_step]
    mine = group[rank * cfg.grad_accum : (rank + 1) * cfg.grad_accum]
    step_loss, step_tokens = 0.0, 0
    for idx in mine:
        examples = [plan.train[i] for i in idx]
        batch = {
            k: v.to(accelerator.device)
            for k, v in collate(
                examples, plan.base.tokenizer.pad_token_id, cfg.answer_letter_weight
            ).items()
        }
        with accelerator.accumulate(model):
            with accelerator.autocast():
                loss, _ = loss_fn(model, batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
        step_loss += float(loss.detach()) / len(mine)
        step_tokens += int(batch["attention_mask"].sum())
    return step_loss, step_tokens


def train(plan: Plan) -> Result:
    import torch
    from tqdm.auto import tqdm

    from .loss import LOSSES

    cfg = plan.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    plan.precision = _precision(cfg)
    accelerator = _accelerator(plan)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        atomic_write_json(
            plan.work_dir / "run.json",
            {"fingerprint": plan.fingerprint, "total_steps": plan.total_steps},
        )
    device = _device_info(accelerator)
    accelerator.print(
        f"training on {device['type']} ({device['name']}, "
        f"{device['processes']} process(es)), precision {plan.precision}"
    )
    model = build_model(plan)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg, plan.total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    loss_fn = LOSSES[cfg.loss]

    history: dict[str, list] = {"train": [], "val": []}
    step, tokens, seconds = 0, 0, 0.0
    ckpt = latest_checkpoint(plan.work_dir)
    if ckpt is not None:
        state = load_checkpoint(ckpt, accelerator, model, optimizer, scheduler)
        step, tokens, seconds = state["step"], state["tokens"], state["seconds"]
        history = state["history"]
        accelerator.print(f"resuming from {ckpt} (step {step}/{plan.total_steps})")
    if step == 0 and not history["val"]:
        v = validation_loss(model, plan, accelerator)
        if v is not None:
            history["val"].append([0, v])
    started = time.monotonic()
    budget = cfg.time_budget_minutes * 60
    stopped_early = False
    bar = tqdm(
        total=plan.total_steps,
        initial=step,
        desc=plan.name,
        unit="step",
        disable=not accelerator.is_local_main_process,
        dynamic_ncols=True,
    )
    model.train()
    while step < plan.total_steps:
        t0 = time.monotonic()
        step_loss, step_tokens = _optimizer_step(
            plan, step, accelerator, model, optimizer, params, loss_fn
        )
        scheduler.step()
        step += 1
        step_tokens = int(
            accelerator.reduce(torch.tensor(step_tokens, device=accelerator.device), "sum")
        )
        dt = time.monotonic() - t0
        tokens += step_tokens
        seconds += dt
        history["train"].append([step, step_loss])
        bar.update(1)
        bar.set_postfix(
            loss=f"{step_loss:.3f}",
            tok_s=f"{step_tokens / dt:.0f}",
            lr=f"{scheduler.get_last_lr()[0]:.1e}",
        )
        last = step == plan.total_steps
        out_of_time = budget > 0 and time.monotonic() - started > budget
        if cfg.eval_every and (step % cfg.eval_every == 0 or last or out_of_time):
            v = validation_loss(model, plan, accelerator)
            if v is not None:
                history["val"].append([step, v])
                bar.write(f"step {step}: val loss {v:.4f}")
        if (cfg.save_every and step % cfg.save_every == 0) or last or out_of_time:
            save_checkpoint(
                plan.work_dir,
                step,
                accelerator,
                model,
                optimizer,
                scheduler,
                {"step": step, "tokens": tokens, "seconds": seconds, "history": history},
                keep=cfg.keep_checkpoints,
            )
        if out_of_time and not last:
            bar.write(
                f"time budget of {cfg.time_budget_minutes} min used: stopping at step "
                f"{step}/{plan.total_steps}; rerun to continue"
            )
            stopped_early = True
            break
    bar.close()
    trains = [v for _, v in history["train"][-10:]]
    return Result(
        step=step,
        history=history,
        tokens=tokens,
        seconds=seconds,
        stopped_early=stopped_early,
        final_train_loss=sum(trains) / len(trains) if trains else None,
        final_val_loss=history["val"][-1][1] if history["val"] else None,
        initial_val_loss=history["val"][0][1] if history["val"] else None,
        device=device,
        model=model,
        accelerator=accelerator,
    )
