"""An office's own model in the models folder: ``legal-edge models add`` (docs/your-own-model.md).

A bare GGUF (llama.cpp) or Hugging Face directory (vLLM) becomes ``models/<name>/manifest.json``
naming it where it lies (a 7B file is not copied), so the server serves it by name like the
shipped model, with what a bare file does not say written down once:

- the chat template: the GGUF's ``tokenizer.chat_template`` / the HF directory's
  ``tokenizer_config.json`` or ``chat_template.jinja``, or a Jinja file given; never a guess
  for a model that brings none (an error names the option);
- stop strings: the end-of-turn marker the template writes (``<|im_end|>``, ``<end_of_turn>``,
  ``<|eot_id|>``...);
- generation defaults: the GGUF's ``general.sampling.*`` keys (recent llama.cpp conversions copy
  the model's ``generation_config.json`` there), the HF directory's ``generation_config.json``,
  then the values given, which win;
- grounding: the statute index the shipped model uses (``runs/index/statutes`` beside the
  models folder) when it exists, or the one given; ``none`` leaves the model ungrounded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from legal_edge.models.manifest import (
    GENERATION_KEYS,
    MANIFEST_NAME,
    ManifestError,
    ModelFile,
    ModelManifest,
    check_generation,
    file_entry,
    read_json_object,
)
from legal_edge.prompts import template_stops

# GGUF general.sampling.* key -> manifest generation key
_GGUF_SAMPLING = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_p": "top_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
    "general.sampling.penalty_last_n": "repeat_last_n",
}
# generation_config.json key -> manifest generation key
_HF_SAMPLING = {
    "temperature": "temperature",
    "top_p": "top_p",
    "repetition_penalty": "repeat_penalty",
}
DEFAULT_INDEX = Path("..") / "runs" / "index" / "statutes"


def _generation(found: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in {**found, **{k: v for k, v in given.items() if v is not None}}.items():
        kind = GENERATION_KEYS[key][0]
        out[key] = kind(value)
    if out.get("repeat_penalty") == 1.0:
        out.pop("repeat_penalty")  # 1.0 is off: nothing to say
    return out or None


def add_model(
    source: Path,
    models_dir: Path,
    name: str,
    *,
    chat_template: Path | None = None,
    statutes_index: str | None = None,
    generation: Mapping[str, Any] | None = None,
    context_length: int | None = None,
    description: str = "",
    force: bool = False,
) -> ModelManifest:
    """Write ``models_dir/name/manifest.json`` for ``source`` and return the manifest read back.

    ``statutes_index``: None picks the default index when it exists, ``"none"`` grounds nothing,
    else a directory or ``index.sqlite3`` (absolute or relative to ``models_dir``)."""
    source = Path(source).expanduser().resolve()
    models_dir = Path(models_dir)
    if os.path.normpath(name).startswith("..") or "/" in name or not name:
        raise ManifestError(f"--name {name!r}: a model name is one folder name in {models_dir}")
    directory = models_dir / name
    if (directory / MANIFEST_NAME).exists() and not force:
        raise ManifestError(f"{directory / MANIFEST_NAME} exists (--force replaces it)")
    given_template = chat_template.read_text(encoding="utf-8") if chat_template else None
    if source.suffix == ".gguf" and source.is_file():
        files, template, found, ctx, quant, base = _from_gguf(source, directory)
    elif source.is_dir() and (source / "config.json").is_file():
        files, template, found, ctx, quant, base = _from_hf(source, directory)
    else:
        raise ManifestError(f"{source}: neither a .gguf file nor an HF directory with config.json")
    template = given_template or template
    if not template:
        raise ManifestError(
            f"{source} carries no chat template; give the model's own with --chat-template FILE "
            "(its tokenizer_config.json's chat_template, saved as a .jinja file)"
        )
    gen = _generation(found, generation or {})
    check_generation(gen, str(directory / MANIFEST_NAME))
    manifest = ModelManifest(
        name=name,
        base_model=base,
        files=files,
        chat_template=template,
        stop=template_stops(template),
        context_length=context_length or ctx,
        quantization=quant,
        description=description or f"{base}, added with legal-edge models add",
        stage="external",
        generation=gen,
        statutes_index=_index(models_dir, statutes_index),
    )
    directory.mkdir(parents=True, exist_ok=True)
    manifest.write(directory)
    return ModelManifest.read(directory)


def _index(models_dir: Path, given: str | None) -> str | None:
    if given is not None:
        return None if given.lower() == "none" else given
    default = models_dir / DEFAULT_INDEX / "index.sqlite3"
    return str(DEFAULT_INDEX) if default.is_file() else None


def _from_gguf(source: Path, directory: Path) -> tuple[Any, ...]:
    from legal_edge.models.gguf_metadata import read_gguf_metadata

    meta = read_gguf_metadata(source)
    found = {
        key: meta[gguf_key]
        for gguf_key, key in _GGUF_SAMPLING.items()
        if isinstance(meta.get(gguf_key), (int, float))
    }
    ctx = int(meta.get("context_length") or 4096)
    base = str(meta.get("general.basename") or meta.get("general.name") or source.stem)
    entry = file_entry(directory, source, "model")
    template = meta.get("tokenizer.chat_template")
    return [entry], template, found, ctx, meta.get("file_type_name"), base


def _from_hf(source: Path, directory: Path) -> tuple[Any, ...]:
    from legal_edge.models.manifest import hf_manifest

    m = hf_manifest(source)
    tok = read_json_object(source / "tokenizer_config.json")
    has_own = (
        isinstance(tok.get("chat_template"), str) or (source / "chat_template.jinja").is_file()
    )
    gen_cfg = read_json_object(source / "generation_config.json")
    found = {
        key: gen_cfg[hf_key]
        for hf_key, key in _HF_SAMPLING.items()
        if isinstance(gen_cfg.get(hf_key), (int, float))
    }
    rel = os.path.relpath(source, directory.resolve())
    files = [ModelFile(role="hf", path=rel)]
    return (
        files,
        m.chat_template if has_own else None,
        found,
        m.context_length,
        m.quantization,
        m.base_model,
    )
