"""Tokens/s of a LoRA training step at a real model's shape, random weights, on CPU or CUDA.

``python -m recipes.bench.lora_step_speed [--device cuda] [--batch-size 4,16] [--seq-len 512]``

Timing a step needs the model's shape, not its weights: the model is built from a config with
random weights (Gemma-3-270M's by default: 18 layers, hidden 640, 4 query heads / 1 KV head of
256, MLP 2048, 262,144-token vocabulary; ``--shape`` reads another ``config.json``), so it runs on
a bare GPU host. Every mode runs the same steps (forward, backward, AdamW on the LoRA weights;
r=16, alpha 32, q/k/v/o by default) on the same random batches, whose last ``--answer-frac`` of
each sequence is the answer the loss covers (0.43 of the tokens in the shipped legal mix). Modes:
``recipe`` is what ``legal-recipes train`` runs (answer-only logits, bf16 autocast over fp32
weights, eager attention); the others change one thing each. The first steps of a mode warm up
kernels and the allocator and are not timed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from legal_edge.fileio import atomic_write_json

# Gemma-3-270M (models/gemma3-270m-hf/config.json): what the shipped adapter is trained on.
GEMMA3_270M: dict[str, Any] = {
    "model_type": "gemma3_text",
    "vocab_size": 262144,
    "hidden_size": 640,
    "intermediate_size": 2048,
    "num_hidden_layers": 18,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 256,
    "query_pre_attn_scalar": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 32768,
    "sliding_window": 512,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3,
    "rope_parameters": {
        "full_attention": {"rope_theta": 1e6, "rope_type": "default"},
        "sliding_attention": {"rope_theta": 1e4, "rope_type": "default"},
    },
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 1,
}

# name -> (loss, precision, attention)
MODES = {
    "recipe": ("answer_only", "bf16", "eager"),
    "plain_loss": ("plain", "bf16", "eager"),
    "fp32": ("answer_only", "fp32", "eager"),
    "sdpa": ("answer_only", "bf16", "sdpa"),
}


def load_shape(path: Path | None, overrides: list[str]) -> dict[str, Any]:
    """Gemma-3-270M's shape, or a ``config.json``'s, with ``key=value`` overrides (JSON values)."""
    shape = dict(GEMMA3_270M)
    if path is not None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        shape = dict(raw.get("text_config") or raw)
        shape.setdefault("model_type", raw.get("model_type"))
    for item in overrides:
        key, _, value = item.partition("=")
        try:
            shape[key] = json.loads(value)
        except json.JSONDecodeError:
            shape[key] = value
    if "layer_types" in shape and len(shape["layer_types"]) != shape["num_hidden_layers"]:
        n, kinds = shape["num_hidden_layers"], shape["layer_types"]
        shape["layer_types"] = [kinds[i % len(kinds)] for i in range(n)]
    return shape


def build_model(shape: dict[str, Any], attn: str, device: str, targets: list[str], r: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    kw = {
        k: v
        for k, v in shape.items()
        if not k.startswith("_")
        and k not in ("model_type", "architectures", "transformers_version", "dtype", "torch_dtype")
    }
    config = AutoConfig.for_model(shape["model_type"], **kw)
    torch.manual_seed(0)
    with torch.device(device):  # built where it runs: no 1 GB copy from host memory
        model = AutoModelForCausalLM.from_config(
            config, attn_implementation=attn, dtype=torch.float32
        )
    lora = LoraConfig(
        r=r, lora_alpha=2 * r, lora_dropout=0.05, target_modules=targets, task_type="CAUSAL_LM"
    )
    return get_peft_model(model, lora).to(device)


def make_batches(
    n: int, batch_size: int, seq_len: int, vocab: int, answer_frac: float, seed: int = 0
) -> list[dict]:
    import torch

    from recipes.train.data import IGNORE

    g = torch.Generator().manual_seed(seed)
    prompt = seq_len - max(1, round(seq_len * answer_frac))
    out = []
    for _ in range(n):
        ids = torch.randint(4, vocab, (batch_size, seq_len), generator=g)
        labels = ids.clone()
        labels[:, :prompt] = IGNORE
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return out


def bench_mode(
    name: str,
    shape: dict[str, Any],
    batches: list[dict],
    device: str,
    warmup: int,
    targets: list[str],
    r: int,
) -> dict[str, Any]:
    import torch

    from recipes.train.loss import LOSSES

    loss_name, precision, attn = MODES[name]
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_model(shape, attn, device, targets, r)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    times, losses = [], []
    for i, cpu_batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in cpu_batch.items()}
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(
            torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16"
        ):
            loss, _ = LOSSES[loss_name](model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[warmup:])
    bs, seq = batches[0]["input_ids"].shape
    row = {
        "mode": name,
        "loss": loss_name,
        "precision": precision,
        "attention": attn,
        "batch": f"{bs}x{seq}",
        "steps": len(times),
        "tokens": tokens,
        "seconds": round(sum(times), 3),
        "ms_per_step": round(1000 * sum(times) / len(times), 1),
        "tokens_per_s": round(tokens / sum(times), 1),
        "trainable_params": sum(p.numel() for p in params),
        "first_loss": round(losses[0], 3),
        "last_loss": round(losses[-1], 3),
    }
    if cuda:
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del model, opt, params
    return row


def bench(
    shape: dict[str, Any],
    device: str,
    batch_sizes: list[int],
    seq_len: int,
    steps: int,
    warmup: int,
    modes: list[str],
    answer_frac: float,
    targets: list[str],
    r: int,
    threads: int = 0,
) -> list[dict[str, Any]]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    rows = []
    for bs in batch_sizes:
        batches = make_batches(warmup + steps, bs, seq_len, shape["vocab_size"], answer_frac)
        for name in modes:
            rows.append(bench_mode(name, shape, batches, device, warmup, targets, r))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def device_name(device: str) -> str:
    import platform

    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return (
        f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads"
    )


@click.command(help=__doc__)
@click.option("--device", default="cuda", show_default=True, help="cuda, cuda:1, cpu")
@click.option(
    "--shape",
    "shape_file",
    type=click.Path(path_type=Path),
    help="a config.json to take the shape from (default: Gemma-3-270M's)",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="change one shape field, e.g. num_hidden_layers=2",
)
@click.option("--batch-size", default="4", show_default=True, help="comma-separated, e.g. 4,16")
@click.option("--seq-len", type=int, default=512, show_default=True)
@click.option("--steps", type=int, default=10, show_default=True, help="timed steps per mode")
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--modes", default=",".join(MODES), show_default=True, help="comma-separated")
@click.option("--answer-frac", type=float, default=0.43, show_default=True)
@click.option("--targets", default="q_proj,k_proj,v_proj,o_proj", show_default=True)
@click.option("--rank", type=int, default=16, show_default=True)
@click.option("--threads", type=int, default=0, help="torch CPU threads; 0 = default")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="also write the rows here"
)
def main(
    device: str,
    shape_file: Path | None,
    overrides: tuple[str, ...],
    batch_size: str,
    seq_len: int,
    steps: int,
    warmup: int,
    modes: str,
    answer_frac: float,
    targets: str,
    rank: int,
    threads: int,
    json_out: Path | None,
) -> None:
    chosen = modes.split(",")
    unknown = [m for m in chosen if m not in MODES]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; choose from {', '.join(MODES)}", param_hint="--modes"
        )
    shape = load_shape(shape_file, list(overrides))
    rows = bench(
        shape,
        device,
        [int(b) for b in batch_size.split(",")],
        seq_len,
        steps,
        warmup,
        chosen,
        answer_frac,
        targets.split(","),
        rank,
        threads,
    )
    where = device_name(device)
    click.echo(
        f"\n{where}; {shape['model_type']} {shape['num_hidden_layers']} layers, hidden "
        f"{shape['hidden_size']}, vocab {shape['vocab_size']}; LoRA r={rank} on {targets}"
    )
    click.echo(
        f"{'mode':<11} {'loss':<12} {'prec':<5} {'attn':<6} {'batch':>8} {'ms/step':>8} "
        f"{'tok/s':>9} {'GiB':>6}"
    )
    for r in rows:
        click.echo(
            f"{r['mode']:<11} {r['loss']:<12} {r['precision']:<5} {r['attention']:<6} "
            f"{r['batch']:>8} {r['ms_per_step']:>8} {r['tokens_per_s']:>9} "
            f"{r.get('peak_memory_gib', '-'):>6}"
        )
    if json_out:
        atomic_write_json(json_out, {"device": where, "shape": shape, "rows": rows})


if __name__ == "__main__":
    main()
