"""The vLLM form of a base + LoRA model: ``models/<name>/vllm/manifest.json``.

vLLM serves Hugging Face weights, not GGUF files; a base + adapter model such as the shipped
``legal-gemma3-270m`` reaches it as the base's HF directory (``models/gemma3-270m-hf``, which
``./install.sh --vllm`` converts from the GGUF) plus the committed PEFT adapter (``peft/``),
applied by vLLM's LoRA support under the model's own name. The form's manifest names both
(roles ``hf`` and ``peft``) and keeps everything else of the model's (chat template, stops,
generation defaults, statute index), so ``serve --backend vllm --model legal-gemma3-270m``
serves the legal model with the same prompt format and grounding as on llama.cpp.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from legal_edge.models.manifest import MANIFEST_NAME, ManifestError, ModelFile, ModelManifest

VLLM_DIR = "vllm"
PEFT_DIR = "peft"


def vllm_form(manifest: ModelManifest) -> ModelManifest:
    """What the vllm backend serves for ``manifest``: itself when it has an HF directory or no
    adapter, else its vLLM form (an error naming the command that writes it when missing)."""
    if manifest.file("hf") is not None or manifest.file("adapter") is None:
        return manifest
    where = manifest.directory or Path(".")
    if (where / VLLM_DIR / MANIFEST_NAME).is_file():
        return ModelManifest.read(where / VLLM_DIR)
    raise ManifestError(
        f"model {manifest.name!r} is a GGUF base + LoRA adapter, which vLLM cannot load as it "
        f"is, and {where / VLLM_DIR} has no vLLM form; `./install.sh --vllm` writes it (the base "
        "as an HF directory and the PEFT adapter), or serve it with --backend llamacpp"
    )


def write_vllm_form(manifest: ModelManifest, hf_base: Path) -> Path:
    """Write ``<model dir>/vllm/manifest.json`` for ``manifest`` over ``hf_base``; its path."""
    where = manifest.directory
    if where is None or manifest.file("adapter") is None:
        raise ManifestError(f"model {manifest.name!r}: not a base + adapter model directory")
    peft = where / PEFT_DIR
    if not (peft / "adapter_config.json").is_file():
        raise ManifestError(f"{peft}: no PEFT adapter (adapter_config.json) for vLLM's LoRA")
    if not (Path(hf_base) / "config.json").is_file():
        raise ManifestError(f"{hf_base}: not an HF model directory (no config.json)")
    form = where / VLLM_DIR
    files = [
        ModelFile(role="hf", path=os.path.relpath(Path(hf_base).resolve(), form.resolve())),
        ModelFile(role="peft", path=os.path.relpath(peft.resolve(), form.resolve())),
    ]
    base = dataclasses.replace(manifest, files=files, derived_from={"kind": "vllm"})
    form.mkdir(exist_ok=True)
    return base.write(form)


if __name__ == "__main__":  # install.sh --vllm: python -m legal_edge.models.vllm_form MODEL HF_BASE
    model_dir, hf_dir = (Path(a) for a in sys.argv[1:3])
    print(write_vllm_form(ModelManifest.read(model_dir), hf_dir))
