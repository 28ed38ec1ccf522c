"""Export a fine-tuned model to merged GGUFs, quantize, measure each variant, publish good ones.

``legal-recipes export --config recipes/configs/export/<name>.yaml [--set key=value ...]``

From a trained model directory (base GGUF + PEFT adapter + manifest) or a base model directory:
merge the adapter into the base's tensors (F16/BF16/F32 GGUF with the manifest's chat template and
end-of-turn token) -> parity checks (tokenizer ids, logits of adapter-on-base / merged HF / GGUF)
-> quantize with llama.cpp (Q8_0, Q6_K, Q5_K_M, Q4_K_M ...) -> measure each variant in its own
process (size, peak RSS, load time, decode tokens/s, KL and top-1 vs F16, perplexity) -> legal MCQ
accuracy with the evaluation harness -> quality gate -> ``models/<name>-<quant>/`` for the
variants in ``publish`` -> ``report.md``/``report.html``/``summary.json`` in ``output_dir``.
Every step's result is kept in ``output_dir/state.json`` under a hash of its inputs, so rerunning
after an interruption (or with unchanged inputs) redoes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from legal_edge.config import ConfigError, to_dict
from legal_edge.fileio import atomic_write_json, sha256_file
from legal_edge.manifest import ManifestError, ModelManifest
from legal_edge.prompts import record_to_messages, render_chat
from recipes.evaluate import SuiteSpec, resolve_path
from recipes.export.parity import ParityError, ParitySettings
from recipes.export.publish import QualityGate


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


def _default_suites() -> tuple[SuiteSpec, ...]:
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
    suites: tuple[SuiteSpec, ...] = field(default_factory=_default_suites)  # MCQ for accuracy
    seed: int = 0
    gate: QualityGate = field(default_factory=QualityGate)
    gptq: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA hosts with gptqmodel only


class ExportError(RuntimeError):
    """An export that cannot proceed; the message names the file or key."""


def _log(msg: str) -> None:
    print(f"[export] {msg}", file=sys.stderr, flush=True)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StepState:
    """Results of finished steps, keyed by a hash of their inputs (``state.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.data = {}

    def run(self, step: str, key: str, outputs: list[Path], fn: Callable[[], Any]) -> Any:
        done = self.data.get(step)
        if done and done.get("key") == key and all(p.is_file() for p in outputs):
            _log(f"{step}: unchanged, reusing")
            return done["result"]
        _log(f"{step}: running")
        t0 = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - t0, 1)
        _log(f"{step}: done in {seconds} s")
        self.data[step] = {"key": key, "result": result, "seconds": seconds}
        atomic_write_json(self.path, self.data)
        return result


@dataclass
class Source:
    manifest: ModelManifest
    kind: str  # "adapter" (trained) | "base"
    base_gguf: Path | None  # None: the base is an HF checkpoint (hf_dir)
    hf_dir: Path | None  # the float HF base training used, when known and still there
    peft_dir: Path | None
    base_sha256: str
    peft_sha256: str | None


def read_source(model: Path) -> Source:
    try:
        m = ModelManifest.read(resolve_path(model))
    except ManifestError as exc:
        raise ExportError(f"model: {exc}") from None
    training = m.training or {}
    known_hf = (training.get("base") or {}).get("hf_dir")
    hf_dir = Path(known_hf) if known_hf and (Path(known_hf) / "config.json").is_file() else None
    base = m.model_path if m.file("model") is not None else None
    if base is not None and not base.is_file():
        raise ExportError(f"model: base GGUF {base} named by {m.directory} is missing")
    if base is None and hf_dir is None:
        raise ExportError(
            f"model: {m.directory} names neither a base GGUF nor an existing HF "
            "base directory (training.base.hf_dir)"
        )
    peft_dir = None
    if training.get("peft_dir"):
        assert m.directory is not None
        peft_dir = m.directory / training["peft_dir"]
        if not (peft_dir / "adapter_model.safetensors").is_file():
            raise ExportError(f"model: PEFT adapter {peft_dir} named by the manifest is missing")
    elif m.adapter_path is not None:
        raise ExportError(
            f"model: {m.directory} has a GGUF adapter but no PEFT adapter "
            "(training.peft_dir) to merge"
        )
    peft_sha = sha256_file(peft_dir / "adapter_model.safetensors") if peft_dir else None
    base_sha = sha256_file(base) if base is not None else _dir_sha(hf_dir)  # type: ignore[arg-type]
    return Source(m, "adapter" if peft_dir else "base", base, hf_dir, peft_dir, base_sha, peft_sha)


def _dir_sha(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.glob("*.json")) + sorted(d.glob("*.safetensors")):
        h.update(p.name.encode() + sha256_file(p).encode())
    return h.hexdigest()


def validation_texts(cfg: Config, src: Source) -> list[str]:
    """Validation records rendered with the model's chat template, as the server would."""
    path = cfg.measure.validation_file
    if path is None:
        val = ((src.manifest.training or {}).get("data") or {}).get("val_file")
        path = (
            Path(val)
            if val and Path(val).is_file()
            else Path("../shared/legal-data/qa/lawyer_llama_single_turn.jsonl")
        )
    path = resolve_path(path)
    if not path.is_file():
        raise ConfigError(f"measure.validation_file: {path} not found")
    texts = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                texts.append(
                    render_chat(
                        src.manifest.chat_template,
                        record_to_messages(rec),
                        add_generation_prompt=False,
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"{path}:{n}: not a usable record ({exc})") from None
            if len(texts) >= 200:
                break
    if not texts:
        raise ConfigError(f"measure.validation_file: {path} has no records")
    return texts


def run(cfg: Config) -> Path:
    """Merge, check, quantize, measure, gate and publish; return the export directory."""
    from recipes.export.steps import export

    bad = sorted(set(cfg.publish) - set(cfg.quantizations))
    if bad:
        raise ConfigError(f"publish: {bad[0]} is not in quantizations {list(cfg.quantizations)}")
    src = read_source(cfg.model)
    # absolute from the first run on: step keys hold variant paths, which must not change
    # between the first run (directory not there yet) and a rerun
    out = resolve_path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state = StepState(out / "state.json")
    return export(cfg, src, out, state)


__all__ = [
    "Config",
    "MeasureSettings",
    "ParitySettings",
    "QualityGate",
    "ExportError",
    "ParityError",
    "run",
    "to_dict",
]
