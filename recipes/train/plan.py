"""Everything checked before a model is loaded for training: the config's numbers, the base
model, the chat template, the data files, the output and work directories; then the plan of
micro-batches, which depends only on the seed, so a resumed run replays the same batches.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.fileio import sha256_file
from legal_edge.models.lora_merge import MergeError, read_peft_adapter
from legal_edge.models.manifest import MANIFEST_NAME
from legal_edge.prompts import KNOWN_TEMPLATES, TemplateError
from legal_edge.settings.loader import to_dict
from recipes.shared.base_model import BaseModel, BaseModelError, load_tokenizer, resolve_base
from recipes.shared.keys import content_key

from .config import OPERATIONAL_KEYS, Config, TrainError
from .data import (
    DataError,
    Example,
    LoadReport,
    check_template_tokens,
    load_examples,
    make_batches,
    read_records,
)

# What the stage writes into output_dir; an output_dir holding only these is an unfinished run.
OWN_OUTPUTS = {"peft", "loss_curve.png", "adapter.gguf", "manifest.json"}


@dataclass(frozen=True)
class ChosenBase(BaseModel):
    """The base model with its tokenizer, what its config says, and the chat template chosen."""

    tokenizer: Any = None
    model_type: str = ""
    context_length: int = 4096
    template: str = ""
    stop: list[str] = field(default_factory=list)
    template_source: str = ""  # config | base manifest | tokenizer/model family


@dataclass
class Plan:
    cfg: Config
    name: str
    base: ChosenBase
    train: list[Example]
    val: list[Example]
    data_info: dict[str, Any]
    data_manifest: dict[str, Any] | None
    fingerprint: str
    work_dir: Path
    total_steps: int
    micro_batches: list[list[int]]
    precision: str = "fp32"


def prepare(cfg: Config) -> Plan:
    """Check the config, base model, data and output directory; tokenize; plan the batches."""
    _check_numbers(cfg)
    train_path, val_path, data_manifest = _data_paths(cfg)
    base = _load_base(cfg)
    tok, template, max_len = base.tokenizer, base.template, cfg.max_seq_len
    drop = cfg.drop_truncated
    try:
        train, rep_t = load_examples(
            train_path, tok, template, max_len, cfg.max_train_examples, drop
        )
        val, rep_v = (
            load_examples(val_path, tok, template, max_len, cfg.val_max_examples, drop)
            if val_path
            else ([], None)
        )
    except (DataError, TemplateError) as exc:
        raise TrainError(str(exc)) from None
    data_files = [p for p in (train_path, val_path) if p is not None]
    init = init_adapter_info(cfg)
    base_key = base.gguf_sha256 or str(base.hf_dir)
    fp = fingerprint(cfg, data_sha(data_files), base_key + (init or {}).get("sha256", ""))
    _check_output_dir(cfg, fp)
    name = cfg.name or cfg.output_dir.name
    work = cfg.work_dir or Path("runs/train") / name
    _check_work_dir(work, fp)
    total, micro, per_epoch, per_step = _plan_batches(cfg, train)
    data_info = {
        "train_file": str(train_path),
        "train_sha256": data_sha([train_path]),
        "val_file": str(val_path) if val_path else None,
        "val_sha256": data_sha([val_path]) if val_path else None,
        "train_examples": len(train),
        "val_examples": len(val),
        "train_report": rep_t.__dict__,
        "val_report": rep_v.__dict__ if isinstance(rep_v, LoadReport) else None,
        "train_answer_tokens": sum(e.n_answer for e in train),
        "train_tokens": sum(len(e.input_ids) for e in train),
        "epochs_covered": round(total * per_step / max(per_epoch, 1), 3),
        "licenses": record_licenses(data_files),
        "data_manifest": compact_data_manifest(data_manifest),
        "init_adapter": init,
    }
    return Plan(cfg, name, base, train, val, data_info, data_manifest, fp, work, total, micro)


def _check_numbers(cfg: Config) -> None:
    for key in ("batch_size", "grad_accum", "max_seq_len"):
        if getattr(cfg, key) < 1:
            raise TrainError(f"{key}: must be >= 1")
    if cfg.max_steps <= 0 and cfg.epochs <= 0:
        raise TrainError("epochs: must be > 0 (or set max_steps)")
    if cfg.answer_letter_weight <= 0:
        raise TrainError(f"answer_letter_weight: must be > 0, got {cfg.answer_letter_weight}")
    if cfg.answer_letter_weight != 1.0 and cfg.loss != "answer_only":
        raise TrainError("answer_letter_weight: only with loss: answer_only")


def _load_base(cfg: Config) -> ChosenBase:
    """Resolve the base model, read its tokenizer and config, choose and check the template."""
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
    context = int(text_cfg.get("max_position_embeddings", 4096))
    return ChosenBase(
        *(base.hf_dir, base.gguf, base.gguf_sha256, base.manifest),
        *(tok, model_type, context, template, stop, source),
    )


def _check_output_dir(cfg: Config, fp: str) -> None:
    """Refuse an output_dir that holds another run or someone else's files (unless overwrite)."""
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


def _check_work_dir(work: Path, fp: str) -> None:
    state = work / "run.json"
    if state.is_file():
        prev = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        if prev != fp:
            raise TrainError(
                f"work_dir: {work} holds checkpoints of a different run "
                f"({prev}); delete it or choose another work_dir"
            )


def _plan_batches(cfg: Config, train: list[Example]) -> tuple[int, list[list[int]], int, int]:
    """(optimizer steps, micro-batches of example indices, batches per epoch, micro-batches
    per step across processes)."""
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
    return total, micro[: total * per_step], per_epoch, per_step


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


def fingerprint(cfg: Config, data_sha: str, base_sha: str) -> str:
    """What identifies a run's result: the config minus operational keys, the data, the base."""
    d = {k: v for k, v in to_dict(cfg).items() if k not in OPERATIONAL_KEYS}
    return content_key({"cfg": d, "data": data_sha, "base": base_sha})


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


def init_adapter_info(cfg: Any) -> dict[str, Any] | None:
    """Path and sha256 of the adapter a run continues from; its LoRA settings must match."""
    if cfg.init_adapter is None:
        return None
    d = cfg.init_adapter
    try:
        conf, weights = read_peft_adapter(d)
    except MergeError as e:
        raise TrainError(f"init_adapter: {e}") from e
    conf_path = d / "adapter_config.json"
    if conf.get("r") != cfg.lora.r or sorted(conf.get("target_modules") or []) != sorted(
        cfg.lora.target_modules
    ):
        raise TrainError(
            f"init_adapter: {conf_path} has r={conf.get('r')} on "
            f"{sorted(conf.get('target_modules') or [])}; lora asks r={cfg.lora.r} on "
            f"{sorted(cfg.lora.target_modules)}: make them match"
        )
    return {"path": str(d), "sha256": sha256_file(weights)}
