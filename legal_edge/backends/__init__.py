"""Inference backends, chosen by name from an explicit registry (no entry points: PyInstaller
cannot see them). Imports are lazy so the runtime loads only the backend it serves with."""

from __future__ import annotations

import importlib

from legal_edge.backends.base import Backend, BackendOptions
from legal_edge.models.manifest import ModelManifest

REGISTRY: dict[str, str] = {
    "llamacpp": "legal_edge.backends.llamacpp.backend:LlamaCppBackend",
    "echo": "legal_edge.backends.echo:EchoBackend",
    "vllm": "legal_edge.backends.vllm.backend:VLLMBackend",
}


class UnknownBackend(ValueError):
    pass


def create_backend(name: str, manifest: ModelManifest, options: BackendOptions) -> Backend:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UnknownBackend(
            f"unknown backend {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        ) from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, attr)
    return cls(manifest, options)  # type: ignore[no-any-return]
