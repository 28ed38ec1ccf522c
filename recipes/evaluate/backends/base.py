"""What every evaluation backend shares: the ``EvalBackend`` interface, its errors, stop
strings, chat-template choice and the weights' identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

Messages = Sequence[Mapping[str, str]]


def weights_id(
    paths: Mapping[str, object], recorded: Mapping[str, str | None] | None = None
) -> dict:
    """What the answers depend on beyond the settings: each weights file or directory by role,
    as the sha256 its manifest recorded, else size and modification time (a directory: of every
    file in it). Part of each prediction's signature, so replacing an adapter or a base
    re-scores its items instead of reusing the old model's answers."""
    from pathlib import Path

    out: dict[str, object] = {}
    for role, value in paths.items():
        if value is None:
            continue
        if recorded and recorded.get(role):
            out[role] = recorded[role]
            continue
        path = Path(str(value))
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        out[role] = [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.exists()]
    return out


class BackendError(RuntimeError):
    """A model that cannot be loaded or reached; the message names the path or URL."""


class ContextOverflow(BackendError):
    """A prompt longer than the context window; the item is skipped and counted, not scored."""


class EvalBackend(Protocol):
    #: False when the backend cannot score continuations (``http``): suites then skip
    #: log-likelihood metrics and say so in the results.
    supports_loglik: bool

    def loglikelihoods(
        self, messages: Messages, continuations: Sequence[str], prefill: str = ""
    ) -> list[float]:
        """Sum of log-probabilities of each continuation after the rendered prompt + ``prefill``
        (text that opens the answer turn, e.g. ``答案：``)."""
        ...

    def generate(self, messages: Messages, max_tokens: int) -> str:
        """Greedy completion of the rendered prompt, cut at the model's stop strings."""
        ...

    def describe(self) -> dict[str, object]:
        """What was evaluated (paths, hashes, adapter, URL) for results.json."""
        ...

    def close(self) -> None: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def pick_template(
    override: str | None, default: str, default_stop: Sequence[str]
) -> tuple[str, list[str]]:
    """The chat template to render with: a known name (``gemma``, ``chatml``), Jinja text, or the
    model's own (``default``, from its manifest or tokenizer)."""
    from legal_edge.prompts import KNOWN_TEMPLATES

    if override and override in KNOWN_TEMPLATES:
        template, stop = KNOWN_TEMPLATES[override]
        return template, list(stop)
    if override:
        return override, list(default_stop)
    return default, list(default_stop)
