"""The model directory: ``models/<name>/manifest.json`` plus the GGUF files it names.

This is the contract between every stage that writes a model (training, export, the default
model install) and the server that reads it. A model is either a full GGUF (``role: model``) or
a base GGUF plus a LoRA adapter GGUF (``role: adapter``); paths are relative to the manifest's
directory, so a base shared by several adapters lives once (``../gemma3-270m/...``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json, sha256_file

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class ManifestError(ValueError):
    """A model directory or manifest that cannot be served; the message names the path."""


@dataclass
class ModelFile:
    # "model" (full GGUF) | "adapter" (LoRA GGUF over the model) | "hf" (HF dir, vLLM) |
    # "peft" (a PEFT LoRA directory over the hf one, vLLM)
    role: str
    path: str  # relative to the manifest's directory
    sha256: str | None = None
    size: int | None = None


@dataclass
class ModelManifest:
    name: str
    base_model: str
    files: list[ModelFile]
    chat_template: str
    stop: list[str] = field(default_factory=list)
    context_length: int = 4096
    quantization: str | None = None
    license: str | None = None
    license_file: str | None = None
    description: str = ""
    stage: str = "base"  # base | train | export | ...
    training: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    # Sampling defaults for this model (GENERATION_KEYS), used where a request does not say.
    generation: dict[str, Any] | None = None
    # The statute index this model answers from (grounded chat completions): a directory or
    # index.sqlite3, absolute or relative to the models directory. The setting statutes_index,
    # when set, wins (docs/grounding.md).
    statutes_index: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # A model built from another one (``legal-edge models build-merged``): the source's name and
    # sha256s, so a stale build is recognised without hashing, and the quality gate's figures.
    derived_from: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    # Where the manifest was read from (not written).
    directory: Path | None = field(default=None, repr=False, compare=False)

    # -- files --------------------------------------------------------------------------------
    def file(self, role: str) -> ModelFile | None:
        return next((f for f in self.files if f.role == role), None)

    def path_of(self, role: str) -> Path | None:
        f = self.file(role)
        if f is None:
            return None
        base = self.directory or Path(".")
        return (base / f.path).resolve()

    @property
    def model_path(self) -> Path:
        p = self.path_of("model")
        if p is None:
            raise ManifestError(f"{self._where()}: no file with role 'model'")
        return p

    @property
    def adapter_path(self) -> Path | None:
        return self.path_of("adapter")

    def _where(self) -> str:
        return str((self.directory or Path(".")) / MANIFEST_NAME)

    def verify_files(self, check_hash: bool = False) -> None:
        """Raise ``ManifestError`` naming the first missing (with ``check_hash``: altered) file."""
        for f in self.files:
            # A manifest is the admin's own config, like a path in the YAML: its files may live
            # on another disk (an HF directory for vLLM, a base shared from elsewhere). What a
            # client sends never becomes a path: names are looked up among the served models,
            # and a model *name* that climbs out of models_dir is refused in resolve_model.
            p = self.path_of(f.role)
            assert p is not None
            if f.role == "hf":  # a Hugging Face model directory (vLLM backend)
                if not (p / "config.json").is_file():
                    raise ManifestError(
                        f"{self._where()}: hf directory {f.path} has no config.json ({p})"
                    )
                continue
            if f.role == "peft":  # a PEFT adapter directory (vLLM's LoRA over the hf one)
                if not (p / "adapter_config.json").is_file():
                    raise ManifestError(
                        f"{self._where()}: peft directory {f.path} has no adapter_config.json ({p})"
                    )
                continue
            if not p.is_file():
                raise ManifestError(f"{self._where()}: {f.role} file {f.path} not found ({p})")
            if check_hash and f.sha256 and sha256_file(p) != f.sha256:
                raise ManifestError(f"{self._where()}: {f.role} file {f.path} sha256 mismatch")

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("directory", None)
        return d

    def write(self, directory: Path | str) -> Path:
        directory = Path(directory)
        return atomic_write_json(directory / MANIFEST_NAME, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory: Path | None = None) -> ModelManifest:
        where = str((directory or Path(".")) / MANIFEST_NAME)
        known = {f for f in cls.__dataclass_fields__ if f != "directory"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ManifestError(f"{where}: unknown manifest key {unknown[0]!r}")
        for key in ("name", "base_model", "files", "chat_template"):
            if key not in data:
                raise ManifestError(f"{where}: missing required key {key!r}")
        try:
            files = [ModelFile(**f) for f in data["files"]]
        except TypeError as exc:
            raise ManifestError(f"{where}: bad entry in 'files': {exc}") from None
        check_generation(data.get("generation"), where)
        return cls(**{**data, "files": files}, directory=directory)

    @classmethod
    def read(cls, directory: Path | str) -> ModelManifest:
        directory = Path(directory).resolve()
        path = directory / MANIFEST_NAME
        if not path.is_file():
            raise ManifestError(f"{path}: no manifest.json in model directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        return cls.from_dict(data, directory=directory)


# A manifest's ``generation`` keys: the request fields and llama.cpp sampler settings a model
# may give defaults for (``SamplingParams`` documents each), with their type and range.
GENERATION_KEYS: dict[str, tuple[type, float, float]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "presence_penalty": (float, -2.0, 2.0),
    "repeat_penalty": (float, 1.0, 10.0),  # 1 = off; below 1 would reward repeats
    "repeat_last_n": (int, -1, 1 << 20),
    "dry_multiplier": (float, 0.0, 10.0),
    "dry_base": (float, 1.0, 10.0),
    "dry_allowed_length": (int, 1, 1 << 10),
    "dry_last_n": (int, -1, 1 << 20),
    "end_bias": (float, 0.0, 10.0),
    "end_bias_after": (int, 0, 1 << 20),
}


def check_generation(generation: Any, where: str) -> None:
    """Raise ``ManifestError`` naming the first unknown key or bad value of ``generation``."""
    if generation is None:
        return
    if not isinstance(generation, dict):
        raise ManifestError(f"{where}: 'generation' must be an object")
    for key, value in generation.items():
        if key not in GENERATION_KEYS:
            raise ManifestError(
                f"{where}: unknown generation key {key!r} (known: {', '.join(GENERATION_KEYS)})"
            )
        kind, low, high = GENERATION_KEYS[key]
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_type or (kind is int and not isinstance(value, int)):
            raise ManifestError(f"{where}: generation.{key} must be {kind.__name__}, got {value!r}")
        if not low <= value <= high:
            raise ManifestError(f"{where}: generation.{key}={value} is outside [{low}, {high}]")


def file_entry(directory: Path, path: Path, role: str) -> ModelFile:
    """A ``ModelFile`` for ``path`` (relative to ``directory``) with its sha256 and size."""
    rel = Path(_relpath(path, directory))
    return ModelFile(role=role, path=str(rel), sha256=sha256_file(path), size=path.stat().st_size)


def _relpath(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(Path(path).resolve(), Path(start).resolve())


def gguf_manifest(
    gguf_path: Path,
    *,
    name: str | None = None,
    chat_template: str | None = None,
    stop: list[str] | None = None,
    context_length: int | None = None,
) -> ModelManifest:
    """An in-memory manifest for a bare GGUF file (``serve --model file.gguf``).

    The chat template comes from the GGUF's ``tokenizer.chat_template`` when present, else the
    caller's, else Gemma's turn format when the vocabulary has ``<start_of_turn>``, else ChatML.
    """
    from legal_edge.models.gguf_metadata import read_gguf_metadata
    from legal_edge.prompts import KNOWN_TEMPLATES, template_stops

    meta = read_gguf_metadata(gguf_path)
    template = chat_template or meta.get("tokenizer.chat_template")
    stops = list(stop or []) or (template_stops(template) if template else [])
    if not template:
        family = "gemma" if meta.get("general.architecture", "").startswith("gemma") else "chatml"
        template, default_stop = KNOWN_TEMPLATES[family]
        stops = stops or list(default_stop)
    ctx = context_length or int(meta.get("context_length") or 4096)
    return ModelManifest(
        name=name or gguf_path.stem,
        base_model=str(meta.get("general.name") or gguf_path.stem),
        files=[ModelFile(role="model", path=gguf_path.name)],
        chat_template=template,
        stop=stops,
        context_length=ctx,
        quantization=meta.get("file_type_name"),
        directory=gguf_path.resolve().parent,
    )


def read_json_object(path: Path) -> dict[str, Any]:
    """A model directory's JSON file as a dict: {} when it is absent or not an object; invalid
    JSON is a ManifestError naming file:line."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    return data if isinstance(data, dict) else {}


def hf_manifest(directory: Path) -> ModelManifest:
    """An in-memory manifest for a bare Hugging Face model directory (``--backend vllm``).

    The chat template comes from ``tokenizer_config.json`` / ``chat_template.jinja`` when present,
    else Gemma's turn format for a Gemma model, else ChatML; quantization from the config's
    ``quantization_config`` (a GPTQ/AWQ export).
    """
    from legal_edge.prompts import KNOWN_TEMPLATES

    directory = Path(directory).resolve()

    config = read_json_object(directory / "config.json")
    tok = read_json_object(directory / "tokenizer_config.json")
    text_config = config.get("text_config") or config
    family = "gemma" if str(config.get("model_type", "")).startswith("gemma") else "chatml"
    template, stops = KNOWN_TEMPLATES[family]
    if isinstance(tok.get("chat_template"), str):
        template = tok["chat_template"]
    elif (directory / "chat_template.jinja").is_file():
        template = (directory / "chat_template.jinja").read_text(encoding="utf-8")
    quant = config.get("quantization_config") or {}
    quantization = None
    if quant:  # a GPTQ/AWQ export, e.g. "gptq-4bit"
        bits = f"-{quant['bits']}bit" if quant.get("bits") else ""
        quantization = f"{quant.get('quant_method', 'quantized')}{bits}"
    return ModelManifest(
        name=directory.name,
        base_model=str(config.get("_name_or_path") or directory.name),
        files=[ModelFile(role="hf", path=".")],
        chat_template=template,
        stop=list(stops),
        context_length=int(text_config.get("max_position_embeddings") or 4096),
        quantization=quantization or str(config.get("torch_dtype") or config.get("dtype") or ""),
        directory=directory,
    )


def resolve_model(spec: str, models_dir: Path) -> ModelManifest:
    """Find a model by name in ``models_dir``, or by path (a model directory or a GGUF file).

    Never falls back to another model: an unknown name raises ``ManifestError`` listing the
    names that exist.
    """
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ManifestError(f"GGUF file not found: {p}")
        return gguf_manifest(p)
    if p.is_dir() and (p / MANIFEST_NAME).is_file():
        return ModelManifest.read(p)
    if p.is_dir() and (p / "config.json").is_file():
        return hf_manifest(p)
    candidate = Path(models_dir) / spec
    if os.path.normpath(spec).startswith(".."):
        raise ManifestError(f"model {spec!r}: a model name cannot leave {models_dir}")
    if (candidate / MANIFEST_NAME).is_file():
        return ModelManifest.read(candidate)
    known = list_models(models_dir)
    raise ManifestError(
        f"model {spec!r} not found in {models_dir} (known: {', '.join(known) or 'none'})"
    )


def list_models(models_dir: Path) -> list[str]:
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return sorted(p.parent.name for p in models_dir.glob(f"*/{MANIFEST_NAME}"))
