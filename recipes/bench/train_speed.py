"""Training speed on this machine: plain HF loss vs answer-only logits, fp32 vs bf16 autocast.

``python -m recipes.bench.train_speed [--base models/gemma3-270m] [--data runs/data/legal_zh_mix]``

Each mode runs the same LoRA training steps (forward, backward, AdamW) on the same batches of
real prepared records and prints tokens/s side by side, plus the speed-up over the plain loss.
The modes take turns step by step (fair on a shared machine); the first step of each is a
warm-up and is not timed.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from legal_edge.fileio import atomic_write_json

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

    from recipes.shared.base_model import load_model
    from recipes.train.config import Config, LoraSettings
    from recipes.train.data import collate
    from recipes.train.loss import LOSSES
    from recipes.train.plan import prepare

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
        collate([plan.train[i] for i in idx], plan.base.tokenizer.pad_token_id)
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


@click.command(help=__doc__)
@click.option("--base", type=click.Path(path_type=Path), default=Path("models/gemma3-270m"))
@click.option("--data", type=click.Path(path_type=Path), default=Path("runs/data/legal_zh_mix"))
@click.option("--steps", type=int, default=4, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--max-len", type=int, default=384, show_default=True)
@click.option("--targets", default="q_proj,k_proj,v_proj,o_proj", show_default=True)
@click.option("--threads", type=int, default=0, help="torch CPU threads; 0 = default")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="also write the rows here"
)
def main(
    base: Path,
    data: Path,
    steps: int,
    batch_size: int,
    max_len: int,
    targets: str,
    threads: int,
    json_out: Path | None,
) -> None:
    rows = bench(base, data, steps, batch_size, max_len, tuple(targets.split(",")), threads)
    head = ("loss", "precision", "tokens", "seconds", "tok/s", "speed-up")
    click.echo(f"{head[0]:<12} {head[1]:<9} {head[2]:>7} {head[3]:>8} {head[4]:>7} {head[5]:>8}")
    for r in rows:
        click.echo(
            f"{r['loss']:<12} {r['precision']:<9} {r['tokens']:>7} {r['seconds']:>8} "
            f"{r['tokens_per_s']:>7} {r['speedup_vs_plain']:>7}x"
        )
    if json_out:
        atomic_write_json(json_out, rows)


if __name__ == "__main__":
    main()
