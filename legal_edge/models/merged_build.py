"""The merged form of an adapter model, and which form ``serve`` loads.

An adapter model (``models/<name>/``: base GGUF + LoRA GGUF) is applied at run time, which costs
decode speed (the shipped model: ~58 tokens/s against ~78 for the same weights merged and
stored as Q8_0, whose KL against an F16 merge is lower too). ``legal-edge models build-merged``
writes ``models/<name>/merged/``: the LoRA merged into the base's tensors, quantized to Q8_0,
gated against the adapter form (``legal_edge.models.merged_gate``), with its own manifest under the
same model name, so clients keep asking for ``<name>``.

``model_form`` (setting ``model_form``, env ``LEGAL_EDGE_MODEL_FORM``) picks what is served:
``auto`` the merged build when it passed its gate and was built from the adapter and base the
manifest names (their recorded sha256s, nothing is hashed at start), else the adapter form;
``merged`` the merged build or an error; ``adapter`` always the run-time LoRA.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from legal_edge.models.manifest import MANIFEST_NAME, ManifestError, ModelManifest, file_entry

MODEL_FORMS = ("auto", "merged", "adapter")
MERGED_DIR = "merged"
QUANTIZATION = "Q8_0"  # 8-bit keeps the merged LoRA change; a 4-bit re-quantization loses it
BUILD_COMMAND = "legal-edge models build-merged"

log = logging.getLogger("legal_edge.server")


def served_form(manifest: ModelManifest) -> str:
    """What a manifest serves: ``merged`` (a merged build), ``adapter`` (base + run-time LoRA)
    or ``model`` (any other single GGUF or HF directory)."""
    if (manifest.derived_from or {}).get("kind") == "merged":
        return "merged"
    lora = manifest.file("adapter") is not None or manifest.file("peft") is not None
    return "adapter" if lora else "model"


def merged_dir(parent: ModelManifest) -> Path:
    return (parent.directory or Path(".")) / MERGED_DIR


def merged_build(parent: ModelManifest) -> tuple[ModelManifest | None, str]:
    """``(manifest, "")`` of ``parent``'s merged build when it may be served in its place,
    else ``(None, why not)``. Compares recorded sha256s only: cheap enough for every start."""
    path = merged_dir(parent) / MANIFEST_NAME
    if not path.is_file():
        return None, "no merged build"
    try:
        merged = ModelManifest.read(path.parent)
    except ManifestError as exc:
        return None, str(exc)
    source = merged.derived_from or {}
    gate = source.get("gate") or {}
    base, adapter = parent.file("model"), parent.file("adapter")
    if not gate.get("passed"):
        return None, (
            f"its quality gate failed (mean KL {gate.get('kl_mean')}, max {gate.get('max_kl')}; "
            f"top-1 agreement {gate.get('top1_agreement')}, min {gate.get('min_top1')})"
        )
    if (
        base is None
        or adapter is None
        or not base.sha256
        or not adapter.sha256
        or source.get("base_sha256") != base.sha256
        or source.get("adapter_sha256") != adapter.sha256
    ):
        return None, "it was built from another adapter or base than the manifest names (stale)"
    entry = merged.file("model")
    try:
        merged.verify_files()
    except ManifestError as exc:
        return None, str(exc)
    if entry is None or entry.size != merged.model_path.stat().st_size:
        return None, f"{merged.model_path} is not the file the merged manifest describes"
    return as_merged(parent, merged), ""


def as_merged(parent: ModelManifest, merged: ModelManifest) -> ModelManifest:
    """``parent`` served from ``merged``'s GGUF. Only the weights come from the merged build:
    how to serve the model (chat template, stop tokens, sampling defaults, context, licence,
    evaluation) stays the parent's, so editing the parent's manifest needs no rebuild."""
    directory = merged.directory or Path(".")
    license_file = parent.license_file
    if license_file and not os.path.isabs(license_file):
        license_file = os.path.relpath((parent.directory or Path(".")) / license_file, directory)
    data = parent.to_dict()
    data.update(
        files=[asdict(f) for f in merged.files],
        quantization=merged.quantization,
        license_file=license_file,
        description=f"{parent.description} Merged form ({merged.quantization}): the LoRA "
        f"merged into the base's weights by `{BUILD_COMMAND}`.".strip(),
        stage="merged",
        training=None,  # the parent's manifest has it; derived_from names the parent
        derived_from=merged.derived_from,
    )
    return ModelManifest.from_dict(data, directory=directory)


def select_form(manifest: ModelManifest, form: str = "auto") -> ModelManifest:
    """The manifest to serve for ``manifest`` under ``model_form`` ``form`` (see module doc).

    A model without an adapter is served as it is unless ``merged`` is asked for.
    """
    if form not in MODEL_FORMS:
        raise ManifestError(f"model_form: {form!r} must be one of {', '.join(MODEL_FORMS)}")
    where = manifest.directory or Path(".")
    if manifest.file("adapter") is None:
        if form == "merged" and served_form(manifest) != "merged":
            raise ManifestError(
                f"model_form merged: {manifest.name} ({where}) is not a base + adapter model; "
                "there is nothing to merge"
            )
        return manifest
    if form == "adapter":
        return manifest
    merged, why = merged_build(manifest)
    if merged is not None:
        return merged
    command = f"{BUILD_COMMAND} --model {where.name} --models-dir {where.parent}"
    if form == "merged":
        raise ManifestError(
            f"model_form merged: {manifest.name} has no usable merged build ({why}); "
            f"build it with: {command}"
        )
    if why == "no merged build":
        log.info(
            "serving %s as base + LoRA adapter; `%s` builds the faster form", manifest.name, command
        )
    else:
        log.warning(
            "serving %s as base + LoRA adapter, not its merged build: %s (rebuild: %s --force)",
            manifest.name,
            why,
            command,
        )
    return manifest


# -- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergedBuild:
    directory: Path
    built: bool  # False: an existing build of the same adapter and base was kept
    passed: bool
    gate: dict[str, Any]
    seconds: float


def _gated_before(parent: ModelManifest) -> dict[str, Any] | None:
    """The derived_from of an earlier build of these very inputs under today's thresholds."""
    from legal_edge.models import merged_gate

    try:
        source = ModelManifest.read(merged_dir(parent)).derived_from or {}
    except ManifestError:
        return None
    base, adapter = parent.file("model"), parent.file("adapter")
    gate = source.get("gate") or {}
    same = (
        base is not None
        and adapter is not None
        and source.get("base_sha256") == base.sha256
        and source.get("adapter_sha256") == adapter.sha256
        and gate.get("max_kl") == merged_gate.MAX_KL
        and gate.get("min_top1") == merged_gate.MIN_TOP1
    )
    return source if same else None


def build_merged(
    models_dir: Path,
    name: str,
    *,
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> MergedBuild:
    """Merge ``models_dir/name``'s LoRA into its base, quantize to Q8_0, gate it against the
    adapter form and write ``merged/manifest.json`` (idempotent: an existing build of the same
    adapter and base is kept unless ``force``). A failed gate leaves a manifest that says so
    and no model file."""
    from legal_edge.fileio import sha256_file
    from legal_edge.models import merged_gate
    from legal_edge.models.lora_merge import load_gguf_adapter, write_merged_gguf
    from legal_edge.models.quantize import quantize_gguf

    t0 = time.monotonic()
    parent = ModelManifest.read(Path(models_dir) / name)
    out_dir = merged_dir(parent)
    base, adapter = parent.file("model"), parent.file("adapter")
    adapter_path = parent.adapter_path
    if base is None or adapter is None or adapter_path is None:
        raise ManifestError(f"{out_dir.parent}: not a base + adapter model; nothing to merge")
    if not force:
        current, _ = merged_build(parent)
        earlier = _gated_before(parent)
        if current is not None or (earlier is not None and not earlier["gate"].get("passed")):
            source = (current.derived_from if current else earlier) or {}
            return MergedBuild(out_dir, False, bool(source["gate"]["passed"]), source["gate"], 0.0)
    parent.verify_files()
    for entry in (base, adapter):
        path = parent.path_of(entry.role)
        assert path is not None
        progress(f"checking {path.name} (sha256)")
        if not entry.sha256 or sha256_file(path) != entry.sha256:
            raise ManifestError(
                f"{out_dir.parent / MANIFEST_NAME}: {entry.path} does not match its recorded "
                "sha256; the merged build would not describe what the manifest names"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    # no manifest while the files change: a half-rebuilt directory is never served
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    gguf_path = out_dir / f"{parent.name}-{QUANTIZATION.lower()}.gguf"
    f16 = out_dir / f"{parent.name}-f16.gguf"
    try:
        write_merged_gguf(
            parent.model_path,
            load_gguf_adapter(adapter_path),
            f16,
            outtype="f16",
            chat_template=parent.chat_template,
            stop=list(parent.stop),
            name=parent.name,
            progress=progress,
        )
        progress(f"quantizing to {QUANTIZATION}")
        quantize_gguf(f16, gguf_path, QUANTIZATION)
    finally:
        f16.unlink(missing_ok=True)
    progress("quality gate: merged vs adapter form")
    gate = merged_gate.check_merged(gguf_path, parent.model_path, adapter_path)
    figures = {**gate.as_dict(), "reference": "adapter form (base + LoRA GGUF at run time)"}
    seconds = round(time.monotonic() - t0, 1)
    derived: dict[str, Any] = {
        "kind": "merged",
        "model": parent.name,
        "directory": "..",
        "base_sha256": base.sha256,
        "adapter_sha256": adapter.sha256,
        "base_quantization": parent.quantization,
        "method": "LoRA GGUF merged into the base GGUF's dequantized tensors (F16), "
        f"quantized to {QUANTIZATION} with llama.cpp",
        "gate": figures,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "build_seconds": seconds,
    }
    weights = ModelManifest(
        name=parent.name,
        base_model=parent.base_model,
        files=[file_entry(out_dir, gguf_path, "model")],
        chat_template=parent.chat_template,
        quantization=QUANTIZATION,
        derived_from=derived,
        directory=out_dir,
    )
    if not gate.passed:
        gguf_path.unlink()  # never served: not worth its disk space
    # written whole (readable alone: --model models/<name>/merged), served as as_merged() says
    as_merged(parent, weights).write(out_dir)
    return MergedBuild(out_dir, True, gate.passed, figures, seconds)
