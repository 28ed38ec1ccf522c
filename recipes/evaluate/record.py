"""Each evaluated model's figures merged into its own manifest (``EvaluationRecord``), with every
path relative to that manifest: a committed model directory names no path of the machine that
evaluated it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from legal_edge.models.manifest import MANIFEST_NAME, ModelManifest
from recipes.shared.manifest import EvaluationRecord, SuiteResult
from recipes.shared.paths import relative_to_manifest

from .config import Config


def suite_path(path: str, directory: Path) -> str:
    """A suite's data path for the manifest: as configured when relative, else relative to the
    manifest's directory."""
    return relative_to_manifest(Path(path), directory) if Path(path).is_absolute() else path


def update_manifests(cfg: Config, out: Path, results: dict[str, Any]) -> list[Path]:
    """Merge each model's numbers (and its change vs. the original) into its manifest."""
    written = []
    for model, info in results["models"].items():
        directory = info.get("manifest_dir")
        if not directory or not (Path(directory) / MANIFEST_NAME).is_file():
            continue
        manifest = ModelManifest.read(directory)
        previous = EvaluationRecord.from_dict(manifest.evaluation) if manifest.evaluation else None
        suites = dict(previous.suites) if previous else {}
        for name, suite in results["suites"].items():
            suites[name] = SuiteResult(
                metrics=suite["models"][model]["metrics"],
                n_items=suite["n_items"],
                path=suite_path(suite["path"], Path(directory)),
            )
        changes = [r for r in results["comparison"] if r["model"] == model]
        record = EvaluationRecord(
            updated=results["created"],
            results=relative_to_manifest(Path(out) / "results.json", Path(directory)),
            evaluated_as=model,
            original_model=results["baseline"],
            suites=suites,
            changes=changes or (previous.changes if previous else []),
        )
        manifest.evaluation = record.to_dict()
        written.append(manifest.write(directory))
    return written
