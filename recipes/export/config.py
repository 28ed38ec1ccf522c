"""The export stage's config (frozen, loaded from YAML by
``legal_edge.settings.loader.load_config``) and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from recipes.evaluate import SuiteSpec


@dataclass(frozen=True)
class MeasureSettings:
    # jsonl of prepared records (or raw rows with instruction/output); null: the training
    # manifest's val_file, else lawyer-llama QA from ../shared/legal-data
    validation_file: Path | None = None
    kl_tokens: int = 512  # validation tokens scored for KL / top-1 / perplexity
    chunk_tokens: int = 128  # tokens per scored window (the F16 log-probs are kept on disk)
    decode_tokens: int = 64  # greedy tokens timed for decode speed
    serve_ctx: int = 2048  # context of the "serving" load whose peak RSS is reported
    threads: int = 2
    timeout_s: float = 900.0  # per variant


@dataclass(frozen=True)
class ParitySettings:
    enabled: bool = True
    prompts: int = 3  # prompts whose logits are compared at every position
    max_tokens: int = 96  # each prompt is cut to this many tokens (HF forward passes on CPU)
    tokenizer_texts: int = 50  # validation texts whose token ids are compared
    merge_max_abs_diff: float = 1e-2  # logits: adapter-on-base vs merged HF (fp32 vs fp32)
    gguf_max_kl: float = 0.01  # mean KL(merged HF || float GGUF) per position
    gguf_min_top1: float = 0.95  # share of positions with the same argmax token


@dataclass(frozen=True)
class QualityGate:
    metric: str = "acc_loglik"  # evaluation-harness metric compared with the F16 merge
    max_accuracy_drop: float = 0.05  # absolute; with few questions one wrong answer is 1/n
    max_kl: float | None = None  # optional ceiling on mean KL vs F16 (nats per token)


def default_suites() -> tuple[SuiteSpec, ...]:
    return (
        SuiteSpec(
            name="jecqa",
            kind="mcq",
            path="../shared/legal-data/mcq/jecqa_train.jsonl",
            limit=100,
            modes=("loglik",),
        ),
    )


@dataclass(frozen=True)
class Config:
    """Export a fine-tuned model to GGUF and quantize it."""

    model: Path = Path("models/legal-gemma3-270m")  # trained model dir, or a base model dir
    output_dir: Path = Path("runs/export/legal-gemma3-270m")
    models_dir: Path = Path("models")  # published variants go to models_dir/<publish_name>-<q>
    publish_name: str = ""  # default: the source manifest's name
    outtype: Literal["f16", "bf16", "f32"] = "f16"
    # gguf: add the LoRA into the base GGUF's own tensors (keeps its tokenizer byte for byte);
    # hf: merge in transformers, then llama.cpp's convert_hf_to_gguf.py; auto: gguf when the
    # base is a GGUF, else hf
    merge_method: Literal["auto", "gguf", "hf"] = "auto"
    quantizations: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")
    publish: tuple[str, ...] = ("Q4_K_M", "Q8_0")  # must be among quantizations
    compare_source_form: bool = True  # also measure the adapter form (or the original base file)
    parity: ParitySettings = field(default_factory=ParitySettings)
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    suites: tuple[SuiteSpec, ...] = field(default_factory=default_suites)  # MCQ for accuracy
    seed: int = 0
    gate: QualityGate = field(default_factory=QualityGate)
    gptq: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA hosts with gptqmodel only


class ExportError(RuntimeError):
    """An export that cannot proceed; the message names the file or key."""


class ParityError(RuntimeError):
    """A parity check failed; nothing is published. The message says which and by how much."""
