"""The training loop: checks before work starts, then steps, validation, checkpoints, resume.

Everything that can be wrong (base model, data files, chat template, output directory) is
checked in ``prepare`` before a model is loaded for training. ``train`` runs through accelerate, so
the same code runs on one CPU and under ``accelerate launch`` on several GPUs (DDP or DeepSpeed
ZeRO). The order of micro-batches depends only on the seed, so a resumed run replays the exact
batches it would have seen.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json
from legal_edge.prompts import TemplateError
from recipes.train.stage import (
    Config,
    TrainError,
    data_sha,
    existing_fingerprint,
    fingerprint,
    resolve_template,
)
from recipes.train.base_model import BaseModel, BaseModelError, load_tokenizer, resolve_base
from recipes.train.data import (
    DataError,
    Example,
    check_template_tokens,
    collate,
    load_examples,
    make_batches,
    read_records,
)

# What ``finalize`` writes; an output_dir holding only these is an unfinished run of ours.
OWN_OUTPUTS = {"peft", "loss_curve.png", "adapter.gguf", "manifest.json"}


@dataclass
class Plan:
    cfg: Config
    name: str
    base: BaseModel
    tokenizer: Any
    model_type: str
    context_length: int
    template: str
    template_source: str
    stop: list[str]
    train: list[Example]
    val: list[Example]
    data_info: dict[str, Any]
    data_manifest: dict[str, Any] | None
    fingerprint: str
    work_dir: Path
    total_steps: int
    micro_batches: list[list[int]]
    precision: str = "fp32"


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


def _data_paths(cfg: Config) -> tuple[Path, Path | None, dict | None]:
    train = cfg.train_file or (cfg.data_dir / "train.jsonl" if cfg.data_dir else None)
    if train is None:
        raise TrainError("data_dir or train_file: no training data configured")
    val = cfg.val_file
    if val is None and cfg.data_dir and (cfg.data_dir / "val.jsonl").is_file():
        val = cfg.data_dir / "val.jsonl"
    manifest = None
    mdir = cfg.data_dir or train.parent
    if (mdir / "manifest.json").is_file():
        try:
            manifest = json.loads((mdir / "manifest.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TrainError(f"{mdir / 'manifest.json'}:{exc.lineno}: not valid JSON") from None
    for p in (train, val):
        if p is not None and not p.is_file():
            raise TrainError(f"data file not found: {p}")
    return train, val, manifest


def record_licenses(paths: list[Path]) -> list[str]:
    """The distinct ``license`` values of the records trained on: what the adapter's terms
    inherit (some sources are research-only)."""
    found: set[str] = set()
    for path in paths:
        for _, rec in read_records(path):
            if isinstance(rec.get("license"), str) and rec["license"]:
                found.add(rec["license"])
    return sorted(found)


def compact_data_manifest(manifest: dict | None) -> dict | None:
    """The data manifest as the model manifest keeps it: the per-file input list (tens of
    thousands of statute files: hundreds of KB) becomes its count; the data directory's own
    manifest.json still holds it."""
    if not manifest or not isinstance(manifest.get("inputs"), list | dict):
        return manifest
    return {**manifest, "inputs": {"files": len(manifest["inputs"])}}


def prepare(cfg: Config) -> Plan:
    """Check the config, base model, data and output directory; tokenize; plan the batches."""
    for key in ("batch_size", "grad_accum", "max_seq_len"):
        if getattr(cfg, key) < 1:
            raise TrainError(f"{key}: must be >= 1")
    if cfg.max_steps <= 0 and cfg.epochs <= 0:
        raise TrainError("epochs: must be > 0 (or set max_steps)")
    train_path, val_path, data_manifest = _data_paths(cfg)
    try:
        base = resolve_base(cfg.base_model)
    except BaseModelError as exc:
        raise TrainError(f"base_model: {exc}") from None
    tok = load_tokenizer(base.hf_dir)
    hf_config = json.loads((base.hf_dir / "config.json").read_text(encoding="utf-8"))
    text_cfg = hf_config.get("text_config") or hf_config
    model_type = str(hf_config.get("model_type", ""))
    template, stop = resolve_template(cfg, base.manifest, tok, model_type)
    source = (
        "config"
        if cfg.chat_template != "auto"
        else "base manifest"
        if base.manifest
        else "tokenizer/model family"
    )
    missing = check_template_tokens(tok, template)
    if missing:
        raise TrainError(
            f"chat_template uses {', '.join(missing)}, which the tokenizer of "
            f"{base.hf_dir} does not know as single tokens; pick a template for "
            "this model (chat_template=gemma|chatml|<jinja>)"
        )
    if base.gguf is not None and base.manifest is None and cfg.chat_template == "auto":
        pass  # a bare GGUF without a manifest: the family default is recorded in our manifest
    try:
        train, rep_t = load_examples(
            train_path, tok, template, cfg.max_seq_len, cfg.max_train_examples or None
        )
        val, rep_v = (
            load_examples(val_path, tok, template, cfg.max_seq_len, cfg.val_max_examples or None)
            if val_path
            else ([], None)
        )
    except (DataError, TemplateError) as exc:
        raise TrainError(str(exc)) from None
    fp = fingerprint(
        cfg,
        data_sha([p for p in (train_path, val_path) if p]),
        base.gguf_sha256 or str(base.hf_dir),
    )
    old = existing_fingerprint(cfg.output_dir)
    if old is not None and old != fp and not cfg.overwrite:
        raise TrainError(
            f"output_dir: {cfg.output_dir} already holds a different training run "
            f"(fingerprint {old}, this one {fp}); choose another output_dir or "
            "set overwrite=true"
        )
    foreign = (
        [
            p.name
            for p in cfg.output_dir.iterdir()
            if p.name not in OWN_OUTPUTS and not p.name.startswith(".")
        ]
        if cfg.output_dir.is_dir()
        else []
    )
    if old is None and foreign and not cfg.overwrite:
        raise TrainError(
            f"output_dir: {cfg.output_dir} is not empty and holds no training "
            "manifest; choose another output_dir or set overwrite=true"
        )
    name = cfg.name or cfg.output_dir.name
    work = cfg.work_dir or Path("runs/train") / name
    state = work / "run.json"
    if state.is_file():
        prev = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        if prev != fp:
            raise TrainError(
                f"work_dir: {work} holds checkpoints of a different run "
                f"({prev}); delete it or choose another work_dir"
            )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    lengths = [len(e.input_ids) for e in train]
    per_epoch = len(train) // cfg.batch_size + (len(train) % cfg.batch_size > 0)
    per_step = cfg.grad_accum * world
    total = cfg.max_steps or max(1, math.floor(per_epoch * cfg.epochs / per_step))
    micro: list[list[int]] = []
    epoch = 0
    while len(micro) < total * per_step:
        micro.extend(make_batches(len(train), lengths, cfg.batch_size, cfg.seed, epoch))
        epoch += 1
    data_info = {
        "train_file": str(train_path),
        "train_sha256": data_sha([train_path]),
        "val_file": str(val_path) if val_path else None,
        "val_sha256": data_sha([val_path]) if val_path else None,
        "train_examples": len(train),
        "val_examples": len(val),
        "train_report": rep_t.__dict__,
        "val_report": rep_v.__dict__ if rep_v else None,
        "train_answer_tokens": sum(e.n_answer for e in train),
        "train_tokens": sum(lengths),
        "epochs_covered": round(total * per_step / max(per_epoch, 1), 3),
        "licenses": record_licenses([p for p in (train_path, val_path) if p is not None]),
        "data_manifest": compact_data_manifest(data_manifest),
    }
    return Plan(
        cfg=cfg,
        name=name,
        base=base,
        tokenizer=tok,
        model_type=model_type,
        context_length=int(text_cfg.get("max_position_embeddings", 4096)),
        template=template,
        template_source=source,
        stop=stop,
        train=train,
        val=val,
        data_info=data_info,
        data_manifest=data_manifest,
        fingerprint=fp,
        work_dir=work,
        total_steps=total,
        micro_batches=micro[: total * per_step],
    )


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


def _lr_lambda(cfg: Config, total: int):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / max(1, cfg.warmup_steps)
        if cfg.lr_schedule == "constant":
            return 1.0
        frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        frac = min(max(frac, 0.0), 1.0)
        if cfg.lr_schedule == "linear":
            return 1.0 - frac
        return 0.5 * (1.0 + math.cos(math.pi * frac))

    return f


def build_model(plan: Plan):
    import torch
    from peft import LoraConfig, get_peft_model

    from recipes.train.base_model import load_model

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
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise TrainError(f"lora.target_modules: {exc}") from None


def train(plan: Plan) -> Result:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedType
    from tqdm.auto import tqdm

    from recipes.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from recipes.train.loss import LOSSES

    cfg = plan.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    plan.precision = _precision(cfg)
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg, plan.total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    loss_fn = LOSSES[cfg.loss]
    pad = plan.tokenizer.pad_token_id

    history: dict[str, list] = {"train": [], "val": []}
    step, tokens, seconds = 0, 0, 0.0
    ckpt = latest_checkpoint(plan.work_dir)
    if ckpt is not None:
        state = load_checkpoint(ckpt, accelerator, model, optimizer, scheduler)
        step, tokens, seconds = state["step"], state["tokens"], state["seconds"]
        history = state["history"]
        accelerator.print(f"resuming from {ckpt} (step {step}/{plan.total_steps})")

    def evaluate() -> float | None:
        if not plan.val:
            return None
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(plan.val), cfg.batch_size):
                chunk = plan.val[i : i + cfg.batch_size]
                batch = {k: v.to(accelerator.device) for k, v in collate(chunk, pad).items()}
                with accelerator.autocast():
                    loss, n = LOSSES["answer_only"](model, batch)
                total += float(loss.detach()) * n
                count += n
        model.train()
        return total / max(count, 1)

    if step == 0 and not history["val"]:
        v = evaluate()
        if v is not None:
            history["val"].append([0, v])
    world, rank = accelerator.num_processes, accelerator.process_index
    per_step = cfg.grad_accum * world
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
        group = plan.micro_batches[step * per_step : (step + 1) * per_step]
        mine = group[rank * cfg.grad_accum : (rank + 1) * cfg.grad_accum]
        step_loss, step_tokens = 0.0, 0
        for idx in mine:
            examples = [plan.train[i] for i in idx]
            batch = {k: v.to(accelerator.device) for k, v in collate(examples, pad).items()}
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
            v = evaluate()
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
