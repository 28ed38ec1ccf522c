"""GGUF models through llama.cpp's low-level batch API, with a prompt-prefix KV cache.

Multiple-choice scoring needs the log-probability of a few short continuations after one long
prompt, and few-shot prompts share a long prefix across questions. So the backend keeps the
tokens already in the KV cache and only decodes what differs: a question is decoded once, every
single-token option is read from the same logits, and multi-token options decode only their
own tokens before the cache is trimmed back to the prompt. Greedy generation continues from the
same cache, so scoring and generating on one prompt decode it once.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.manifest import ManifestError, ModelManifest, resolve_model
from legal_edge.prompts import render_chat
from recipes.evaluate.backends.base import (
    BackendError,
    ContextOverflow,
    Messages,
    cut_at_stop,
    pick_template,
    weights_id,
)

if TYPE_CHECKING:
    from recipes.evaluate.config import ModelSpec


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max()
    return logits - m - np.log(np.exp(logits - m).sum())


class GGUFBackend:
    supports_loglik = True

    def __init__(
        self,
        model_path: Path,
        *,
        chat_template: str,
        stop: Sequence[str] = (),
        lora_path: Path | None = None,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_batch: int = 512,
        seed: int = 0,
        info: dict[str, Any] | None = None,
    ) -> None:
        import llama_cpp

        if not Path(model_path).is_file():
            raise BackendError(f"GGUF model not found: {model_path}")
        if lora_path is not None and not Path(lora_path).is_file():
            raise BackendError(f"GGUF LoRA adapter not found: {lora_path}")
        self._lib = llama_cpp
        self.llm = open_llama(
            str(model_path),
            lora_path=str(lora_path) if lora_path else None,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            logits_all=False,
            verbose=False,
        )
        self.template = chat_template
        self.stop = list(stop)
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_vocab = self.llm.n_vocab()
        self._ctx = self.llm.ctx
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._stop_ids = {
            ids[0] for ids in (self.tokenize(t, bos=False) for t in self.stop if t) if len(ids) == 1
        }
        self._cached: list[int] = []  # tokens whose keys/values are in sequence 0
        self._last_logits: np.ndarray | None = None  # logits after the last cached token
        self.info = {
            "backend": "gguf",
            "model_path": str(model_path),
            "lora_path": str(lora_path) if lora_path else None,
            **(info or {}),
        }

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> GGUFBackend:
        from recipes.shared.paths import resolve_path

        try:
            manifest = resolve_model(str(resolve_path(spec.path)), resolve_path("models"))
        except ManifestError as exc:
            raise BackendError(f"model {spec.name}: {exc}") from None
        adapter = (
            resolve_path(spec.lora_path)
            if spec.lora_path
            else (manifest.adapter_path if spec.use_manifest_adapter else None)
        )
        template, stop = pick_template(spec.chat_template, manifest.chat_template, manifest.stop)
        return cls(
            manifest.model_path,
            chat_template=template,
            stop=stop,
            lora_path=adapter,
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            n_batch=spec.n_batch,
            info={
                "manifest_dir": str(manifest.directory),
                "model_name": manifest.name,
                "quantization": manifest.quantization,
                "weights": weights_id(
                    {"model": manifest.model_path, "adapter": adapter},
                    {
                        "model": _recorded_sha(manifest, "model"),
                        # the manifest's hash holds only for the manifest's own adapter
                        "adapter": _recorded_sha(manifest, "adapter")
                        if adapter == manifest.adapter_path
                        else None,
                    },
                ),
            },
        )

    # -- tokens and the KV cache ------------------------------------------------------------
    def render(self, messages: Messages) -> str:
        return render_chat(self.template, messages)

    def tokenize(self, text: str, *, bos: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def _decode(self, tokens: Sequence[int], start: int, all_logits: bool) -> list[np.ndarray]:
        """Decode ``tokens`` at positions ``start...`` of sequence 0; return the wanted logits."""
        out: list[np.ndarray] = []
        lib, batch = self._lib, self._batch
        for off in range(0, len(tokens), self.n_batch):
            chunk = tokens[off : off + self.n_batch]
            last_chunk = off + self.n_batch >= len(tokens)
            batch.n_tokens = len(chunk)
            for i, tok in enumerate(chunk):
                batch.token[i] = tok
                batch.pos[i] = start + off + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_logits or (last_chunk and i == len(chunk) - 1)
            rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                raise BackendError(f"llama_decode failed with code {rc}")
            for i in range(len(chunk)):
                if batch.logits[i]:
                    ptr = lib.llama_get_logits_ith(self._ctx, i)
                    out.append(
                        np.ctypeslib.as_array(
                            ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,)
                        ).copy()
                    )
        return out

    def _truncate(self, n: int) -> None:
        if n < len(self._cached):
            self._lib.llama_memory_seq_rm(self._mem, 0, n, -1)
            self._cached = self._cached[:n]
            self._last_logits = None

    def _feed(self, tokens: list[int]) -> np.ndarray:
        """Make the cache hold exactly ``tokens``; return the logits after the last one."""
        if len(tokens) >= self.n_ctx:
            raise ContextOverflow(f"prompt of {len(tokens)} tokens exceeds n_ctx={self.n_ctx}")
        if tokens == self._cached and self._last_logits is not None:
            return self._last_logits
        common = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always decode at least one token for logits
        self._truncate(common)
        try:
            logits = self._decode(tokens[common:], common, all_logits=False)[-1]
        except BaseException:
            self._truncate(0)
            raise
        self._cached = list(tokens)
        self._last_logits = logits
        return logits

    # -- the EvalBackend interface -------------------------------------------------------------
    def loglikelihoods(
        self, messages: Messages, continuations: Sequence[str], prefill: str = ""
    ) -> list[float]:
        context = self.tokenize(self.render(messages) + prefill, bos=True)
        context_logits = self._feed(context)
        first = _log_softmax(context_logits)
        scores = []
        for text in continuations:
            cont = self.tokenize(text, bos=False)
            total = float(first[cont[0]])
            if len(cont) > 1:
                rest = self._decode(cont[:-1], len(context), all_logits=True)
                self._cached = context + cont[:-1]
                for logits, tok in zip(rest, cont[1:], strict=True):
                    total += float(_log_softmax(logits)[tok])
                self._truncate(len(context))
                self._last_logits = context_logits
            scores.append(total)
        return scores

    def generate(self, messages: Messages, max_tokens: int) -> str:
        prompt = self.tokenize(self.render(messages), bos=True)
        if len(prompt) + max_tokens > self.n_ctx:
            raise ContextOverflow(
                f"prompt of {len(prompt)} tokens + {max_tokens} new exceeds n_ctx={self.n_ctx}"
            )
        logits = self._feed(prompt)
        out: list[int] = []
        text = ""
        for _ in range(max_tokens):
            tok = int(np.argmax(logits))
            if self._lib.llama_vocab_is_eog(self._vocab, tok) or tok in self._stop_ids:
                break
            out.append(tok)
            # Control tokens are not text (as the server does): stop strings that are control
            # tokens end generation above, the rest are matched in the text.
            text = self.llm.detokenize(out, special=False).decode("utf-8", errors="replace")
            text, stopped = cut_at_stop(text, self.stop)
            if stopped:
                break
            logits = self._decode([tok], len(self._cached), all_logits=False)[-1]
            self._cached.append(tok)
            self._last_logits = logits
        return text

    def describe(self) -> dict[str, Any]:
        return dict(self.info)

    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None


def _recorded_sha(manifest: ModelManifest, role: str) -> str | None:
    f = manifest.file(role)
    return f.sha256 if f else None
