"""Model backends for evaluation: one small interface, three forms of the same model.

``gguf``  llama.cpp through llama-cpp-python (optional GGUF LoRA adapter), prompts rendered with
          the model manifest's chat template;
``hf``    transformers (optional PEFT adapter directory);
``http``  any OpenAI-compatible server (``legal-edge serve``, llama-server, vLLM ...).

Imports are lazy so that evaluating a GGUF never imports torch.
"""

from __future__ import annotations

from recipes.evaluate.config import ModelSpec

from .base import (
    BackendError,
    ContextOverflow,
    EvalBackend,
    Messages,
    cut_at_stop,
    pick_template,
    weights_id,
)


def make_backend(spec: ModelSpec) -> EvalBackend:
    """The backend named by ``spec.backend``; unknown names fail with the list of known ones."""
    if spec.backend == "gguf":
        from recipes.evaluate.backends.gguf import GGUFBackend

        return GGUFBackend.from_spec(spec)
    if spec.backend == "hf":
        from recipes.evaluate.backends.hf import HFBackend

        return HFBackend.from_spec(spec)
    if spec.backend == "http":
        from recipes.evaluate.backends.http import HTTPBackend

        return HTTPBackend.from_spec(spec)
    raise BackendError(f"model {spec.name}: unknown backend {spec.backend!r} (gguf, hf, http)")


__all__ = [
    "BackendError",
    "ContextOverflow",
    "EvalBackend",
    "Messages",
    "cut_at_stop",
    "make_backend",
    "pick_template",
    "weights_id",
]
