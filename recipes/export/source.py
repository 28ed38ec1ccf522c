"""What is exported: the model directory's manifest, its base (GGUF or HF) and PEFT adapter, and
the validation texts the measurements score."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from legal_edge.fileio import sha256_file
from legal_edge.models.manifest import ManifestError, ModelManifest
from legal_edge.prompts import record_to_messages, render_chat
from legal_edge.settings.loader import ConfigError
from recipes.shared.jsonl import JsonlError, read_jsonl
from recipes.shared.paths import resolve_from_manifest, resolve_path

from .config import Config, ExportError

DEFAULT_VALIDATION = Path("../shared/legal-data/qa/lawyer_llama_single_turn.jsonl")


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
    """The model directory to export; paths its manifest's ``training`` section records are
    read relative to that directory (not the working directory)."""
    try:
        m = ModelManifest.read(resolve_path(model))
    except ManifestError as exc:
        raise ExportError(f"model: {exc}") from None
    assert m.directory is not None
    training = m.training or {}
    known_hf = (training.get("base") or {}).get("hf_dir")
    hf_dir = resolve_from_manifest(m.directory, known_hf) if known_hf else None
    if hf_dir is not None and not (hf_dir / "config.json").is_file():
        hf_dir = None
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
        peft_dir = resolve_from_manifest(m.directory, training["peft_dir"])
        if not (peft_dir / "adapter_model.safetensors").is_file():
            raise ExportError(f"model: PEFT adapter {peft_dir} named by the manifest is missing")
    elif m.adapter_path is not None:
        raise ExportError(
            f"model: {m.directory} has a GGUF adapter but no PEFT adapter "
            "(training.peft_dir) to merge"
        )
    peft_sha = sha256_file(peft_dir / "adapter_model.safetensors") if peft_dir else None
    base_sha = sha256_file(base) if base is not None else dir_sha(hf_dir)  # type: ignore[arg-type]
    return Source(m, "adapter" if peft_dir else "base", base, hf_dir, peft_dir, base_sha, peft_sha)


def dir_sha(d: Path) -> str:
    """One sha256 over an HF checkpoint's JSON and safetensors files (names and contents)."""
    h = hashlib.sha256()
    for p in sorted(d.glob("*.json")) + sorted(d.glob("*.safetensors")):
        h.update(p.name.encode() + sha256_file(p).encode())
    return h.hexdigest()


def validation_file(cfg: Config, src: Source) -> Path:
    """The configured file, else the training run's validation file, else lawyer-llama QA."""
    path = cfg.measure.validation_file
    if path is None:
        # training records its data files as given on its command line (working directory
        # or repo root), not relative to the manifest
        val = ((src.manifest.training or {}).get("data") or {}).get("val_file")
        known = resolve_path(val) if val else None
        path = known if known is not None and known.is_file() else DEFAULT_VALIDATION
    return resolve_path(path)


def validation_texts(cfg: Config, src: Source) -> list[str]:
    """Validation records rendered with the model's chat template, as the server would."""
    path = validation_file(cfg, src)
    if not path.is_file():
        raise ConfigError(f"measure.validation_file: {path} not found")
    texts = []
    try:
        for n, rec in read_jsonl(path):
            try:
                messages = record_to_messages(rec)
                texts.append(
                    render_chat(src.manifest.chat_template, messages, add_generation_prompt=False)
                )
            except (KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"{path}:{n}: not a usable record ({exc})") from None
            if len(texts) >= 200:
                break
    except JsonlError as exc:
        raise ConfigError(f"measure.validation_file: {exc}") from None
    if not texts:
        raise ConfigError(f"measure.validation_file: {path} has no records")
    return texts
