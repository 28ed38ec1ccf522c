"""Training speed on this machine: plain HF loss vs answer-only logits, fp32 vs bf16 autocast.

``python -m recipes.bench.train_speed [--base models/gemma3-270m] [--data runs/data/legal_mix]``

Each mode runs the same LoRA training steps (forward, backward, AdamW) on the same batches of
real prepared records and prints tokens/s side by side, plus the speed-up over the plain loss.
The modes take turns step by step (fair on a shared machine); the first step of each is a
warm-up and is not timed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MODES = (("plain", "fp32"), ("answer_only", "fp32"), ("answer_only", "bf16"))


def bench(
    base: Path,
    data: Path,
    steps: int,
    batch_size: int,
    max_len: int,
    target_modules: tuple[str, ...],
    threads: int,
) -> list[dict]:
    import torch
    from peft import LoraConfig, get_peft_model

    from recipes.train.stage import Config, LoraSettings
    from recipes.train.base_model import load_model
    from recipes.train.data import collate
    from recipes.train.loop import prepare
    from recipes.train.loss import LOSSES

    if threads:
        torch.set_num_threads(threads)
    cfg = Config(
        base_model=base,
        data_dir=data,
        output_dir=Path("/nonexistent-bench-out"),
        work_dir=Path("/nonexistent-bench-work"),
        max_seq_len=max_len,
        batch_size=batch_size,
        max_steps=steps + 1,
        max_train_examples=batch_size * 64,
        lora=LoraSettings(target_modules=target_modules),
    )
    plan = prepare(cfg)
    batches = [
        collate([plan.train[i] for i in idx], plan.tokenizer.pad_token_id)
        for idx in plan.micro_batches[: steps + 1]
    ]
    # Every mode gets its own model and optimizer, and the modes take turns step by step, so a
    # change in machine load (a shared box) hits all of them alike.
    runs = []
    for loss_name, precision in MODES:
        torch.manual_seed(0)
        model = get_peft_model(
            load_model(plan.base.hf_dir),
            LoraConfig(
                r=16,
                lora_alpha=32,
                lora_dropout=0.05,
                target_modules=list(target_modules),
                task_type="CAUSAL_LM",
            ),
        )
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        runs.append(
            {
                "loss": loss_name,
                "precision": precision,
                "model": model,
                "opt": opt,
                "tokens": 0,
                "elapsed": 0.0,
            }
        )
    for i, batch in enumerate(batches):
        for r in runs:
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=r["precision"] == "bf16"):
                loss, _ = LOSSES[r["loss"]](r["model"], batch)
            loss.backward()
            r["opt"].step()
            r["opt"].zero_grad()
            if i:  # the first step warms up allocator and kernels
                r["elapsed"] += time.perf_counter() - t0
                r["tokens"] += int(batch["attention_mask"].sum())
    rows = [
        {
            "loss": r["loss"],
            "precision": r["precision"],
            "steps": steps,
            "tokens": r["tokens"],
            "seconds": round(r["elapsed"], 2),
            "tokens_per_s": round(r["tokens"] / r["elapsed"], 1),
        }
        for r in runs
    ]
    ref = rows[0]["tokens_per_s"]
    for r in rows:
        r["speedup_vs_plain"] = round(r["tokens_per_s"] / ref, 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path("models/gemma3-270m"))
    ap.add_argument("--data", type=Path, default=Path("runs/data/legal_mix"))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=384)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    rows = bench(
        args.base,
        args.data,
        args.steps,
        args.batch_size,
        args.max_len,
        tuple(args.targets.split(",")),
        args.threads,
    )
    head = ("loss", "precision", "tokens", "seconds", "tok/s", "speed-up")
    print(f"{head[0]:<12} {head[1]:<9} {head[2]:>7} {head[3]:>8} {head[4]:>7} {head[5]:>8}")
    for r in rows:
        print(
            f"{r['loss']:<12} {r['precision']:<9} {r['tokens']:>7} {r['seconds']:>8} "
            f"{r['tokens_per_s']:>7} {r['speedup_vs_plain']:>7}x"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
