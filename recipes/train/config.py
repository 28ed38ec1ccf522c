"""The train stage's config (frozen, loaded from YAML by
``legal_edge.settings.loader.load_config``) and its error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from legal_edge.settings.loader import ConfigError


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Config:
    """Fine-tune a base model with LoRA."""

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
    # A PEFT adapter directory to continue from (e.g. the shipped one) instead of a fresh LoRA;
    # its rank and target modules must match ``lora``. Its sha256 is part of the fingerprint.
    init_adapter: Path | None = None
    max_seq_len: int = 512
    # True: a record longer than max_seq_len is dropped (counted) instead of trained on cut,
    # which would teach answers that stop mid-sentence.
    drop_truncated: bool = False
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
    # answer_only: the loss weight of an exam answer's letters (the tokens after 答案：) against 1
    # for every other answer token. A letter is one token beside consultation answers of hundreds,
    # so at 1 the exam answer is a rounding error of the gradient; higher weights teach the letter
    # but may overfit letter priors (validation loss stays unweighted, comparable across runs).
    answer_letter_weight: float = 1.0
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
    # Serving metadata written into the model's manifest: sampling defaults measured for this
    # model (loop controls; none = the base's) and the statute index it answers from (relative
    # to the models directory). A retrain must not silently drop them.
    generation: dict[str, Any] | None = None
    statutes_index: str = ""


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
    "generation",
    "statutes_index",
}


class TrainError(ConfigError):
    """A training run that cannot start; the message names the key or the file."""
