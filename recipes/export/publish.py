"""Quality gate and publishing: a variant that passes becomes ``models/<name>-<quant>/``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from legal_edge.fileio import replaced_atomically
from legal_edge.models.manifest import ModelManifest, file_entry
from recipes.shared.paths import remove_stale_temps

from .config import QualityGate


def gate(row: dict[str, Any], reference: dict[str, Any], g: QualityGate) -> tuple[bool, str]:
    """(passes, reason) for one measured variant against the F16 reference row."""
    acc = (row.get("accuracy") or {}).get("value")
    ref = (reference.get("accuracy") or {}).get("value")
    if acc is None or ref is None:
        return False, f"no {g.metric} measured for the variant or the F16 reference"
    drop = ref - acc
    if drop > g.max_accuracy_drop + 1e-12:
        return False, (
            f"{g.metric} {acc:.3f} is {drop:.3f} below F16 {ref:.3f} "
            f"(max_accuracy_drop {g.max_accuracy_drop})"
        )
    kl = row.get("kl_mean")
    if g.max_kl is not None and kl is not None and kl > g.max_kl:
        return False, f"mean KL {kl:.4f} > max_kl {g.max_kl}"
    return True, f"{g.metric} drop {drop:+.3f} within {g.max_accuracy_drop}"


def _place(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` atomically: a hard link when possible, else a copy."""
    with replaced_atomically(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def publish_variant(
    gguf: Path,
    target: Path,
    *,
    source: ModelManifest,
    quantization: str,
    row: dict[str, Any],
    export_info: dict[str, Any],
) -> Path:
    """Write ``target/<name>.gguf`` and its manifest (template and stop from the source)."""
    name = target.name
    dst = target / f"{name}.gguf"
    remove_stale_temps(target)  # this variant's folder: a killed publish's copy
    _place(gguf, dst)
    license_file = None
    if source.license_file and source.directory:
        lic = (source.directory / source.license_file).resolve()
        if lic.is_file():
            license_file = os.path.relpath(lic, target.resolve())
    manifest = ModelManifest(
        name=name,
        base_model=source.base_model,
        files=[file_entry(target, dst, "model")],
        chat_template=source.chat_template,
        stop=list(source.stop),
        context_length=source.context_length,
        quantization=quantization,
        license=source.license,
        license_file=license_file,
        generation=source.generation,  # the model's sampling defaults survive the export
        description=(
            f"{source.name} merged into one GGUF and quantized to {quantization} by "
            "legal-recipes export."
        ),
        stage="export",
        training=source.training,
        evaluation={
            "export": {
                k: row.get(k)
                for k in (
                    "size_mb",
                    "peak_rss_mb",
                    "load_s",
                    "decode_tok_s",
                    "kl_mean",
                    "kl_p99",
                    "top1_agreement",
                    "perplexity",
                    "accuracy",
                    "accuracy_drop",
                )
            }
        },
        extra={"export": export_info, "source_model": source.name},
    )
    manifest.write(target)
    return target
