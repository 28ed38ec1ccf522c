"""llama.cpp backend: continuous batching over llama-cpp-python's low-level API.

The engine thread (``llamacpp_engine``) decodes every running sequence in one ``llama_decode``
per step; this module is the asyncio side: admission control (a bounded wait queue ->
``QueueFull``), the context check, per-request queues fed with ``loop.call_soon_threadsafe``,
and cancellation (closing the iterator frees the sequence at the engine's next step).

``options.extra`` knobs: ``kv_unified`` (one KV buffer shared by all sequences; default off:
each sequence attends over its own cells only, measured faster here), ``swa_full`` (full-size
cache for sliding-window layers; default off, which saves memory), ``drain_s`` (how long
``stop`` lets running requests finish, default 5 s), ``verbose`` (llama.cpp logs).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from legal_edge.backends.base import (
    Admission,
    BackendNotReady,
    BackendOptions,
    ContextLengthExceeded,
    GenerationRequest,
    TokenChunk,
)
from legal_edge.backends.llamacpp import cpu_mode, offload
from legal_edge.models.manifest import ModelManifest

log = logging.getLogger("legal_edge.backends.llamacpp.backend")

if TYPE_CHECKING:  # the engine module imports llama_cpp: load it only when serving
    from legal_edge.backends.llamacpp.engine import Engine, Output


class LlamaCppBackend:
    # what ``generate`` honours beyond plain sampling (the server refuses the rest with a 400):
    # prompt_logprobs (echo + logprobs), prompt_only (max_tokens 0: the prompt, scored)
    features = frozenset({"grammar", "logprobs", "logit_bias", "prompt_logprobs", "prompt_only"})

    def __init__(self, manifest: ModelManifest, options: BackendOptions):
        self.manifest = manifest
        self.options = options
        self._engine: Engine | None = None
        self._admission = Admission(options)
        self._accepting = False
        self._seeds = itertools.count(options.seed)
        self.offload: dict[str, object] | None = None  # how llama.cpp placed the layers (start)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from legal_edge.backends.llamacpp.engine import Engine

        self.manifest.verify_files()
        extra = self.options.extra
        loop = asyncio.get_running_loop()

        def deliver(outputs: list[Output]) -> None:  # engine thread -> event loop, per step
            try:
                loop.call_soon_threadsafe(_dispatch, outputs)
            except RuntimeError:  # loop closed: nobody is listening any more
                pass

        mode = await asyncio.to_thread(
            cpu_mode.decide,
            self.manifest.model_path,
            self.manifest.adapter_path,
            self.options.cpu_repack,
        )
        log.log(
            logging.INFO if mode.repack or mode.source == "setting" else logging.WARNING,
            "%s",
            cpu_mode.describe(mode),
        )
        n_ctx = min(self.options.n_ctx, self.manifest.context_length)
        placed = await asyncio.to_thread(
            offload.decide,
            self.options.n_gpu_layers,
            self.manifest.model_path,
            self.manifest.adapter_path,
            kv_tokens=n_ctx * self.options.n_parallel,
        )
        log.info("%s", placed.describe())
        self._engine = await asyncio.to_thread(
            Engine,
            self.manifest.model_path,
            adapter_path=self.manifest.adapter_path,
            n_parallel=self.options.n_parallel,
            n_ctx=n_ctx,
            n_batch=self.options.n_batch,
            n_threads=self.options.n_threads,
            stop_texts=list(self.manifest.stop),
            deliver=deliver,
            kv_unified=bool(extra.get("kv_unified", False)),
            swa_full=bool(extra.get("swa_full", False)),
            verbose=bool(extra.get("verbose", False)),
            repack=mode.repack,
            batch_invariant=self.options.batch_invariant,
            n_gpu_layers=placed.param,
        )
        rate, step = self._engine.prompt_rate, self._engine.step_seconds
        if rate and step:
            log.info(
                "prompt speed: %.0f tokens/s, decode step of two sequences: %.0f ms "
                "(timed at start, kept current from served steps)", rate, step * 1000,
            )  # fmt: skip
        # param read back from the llama_model_params the engine loaded with
        self.offload = {**placed.as_dict(), "param": self._engine.n_gpu_layers}
        self._accepting = True

    async def stop(self) -> None:
        """Refuse new requests, let running ones finish for ``drain_s``, then end the rest."""
        self._accepting = False
        engine, self._engine = self._engine, None
        if engine is None:
            return
        await self._admission.drain(float(self.options.extra.get("drain_s", 5.0)))  # type: ignore[arg-type]
        await asyncio.to_thread(engine.close, BackendNotReady("the server is shutting down"))

    @property
    def ready(self) -> bool:
        return self._accepting and self._engine is not None

    @property
    def context_length(self) -> int:
        if self._engine is not None:
            return int(self._engine.n_ctx_seq)
        return min(self.options.n_ctx, self.manifest.context_length)

    @property
    def prompt_rate(self) -> float | None:
        """Prompt tokens per second, measured when the model loaded and kept current from
        prompt-only steps (None before it loaded)."""
        return self._engine.prompt_rate if self._engine is not None else None

    @property
    def decode_step_s(self) -> float | None:
        """Seconds of a decode step of two sequences (a grounded answer and its guard)."""
        return self._engine.step_seconds if self._engine is not None else None

    def count_tokens(self, prompt: str) -> int:
        return len(self._require_engine().tokenize(prompt))

    def stats(self) -> dict[str, int]:
        engine = self._engine
        running = engine.running if engine is not None else 0
        return {"running": running, "waiting": max(0, self._admission.open - running)}

    def _require_engine(self) -> Engine:
        if self._engine is None or not self._accepting:
            raise BackendNotReady("the model is not loaded")
        return self._engine

    # -- generation ---------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        from legal_edge.backends.llamacpp.engine import Job

        engine = self._require_engine()
        tokens = engine.tokenize(request.prompt)
        limit = engine.n_ctx_seq
        if len(tokens) >= limit:
            raise ContextLengthExceeded(len(tokens), request.params.max_tokens, limit)
        params = request.params
        engine.check(params)  # a bad grammar or logit bias: InvalidRequest, nothing queued
        queue: asyncio.Queue[TokenChunk | BaseException] = asyncio.Queue()
        job = Job(
            tokens=tokens,
            params=params,
            seed=params.seed if params.seed is not None else next(self._seeds),
            max_new=max(0, min(params.max_tokens, limit - len(tokens))),
            deadline=request.deadline,
            sink=queue,
        )
        self._admission.admit()
        finished = False
        try:
            engine.submit(job)
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                if item.finish_reason is not None:
                    finished = True
                yield item
                if finished:
                    return
        finally:
            if not finished:  # closed early, cancelled, or the submit failed
                engine.cancel(job)
            self._admission.release()


def _dispatch(outputs: list[Output]) -> None:
    for job, item in outputs:
        job.sink.put_nowait(item)  # type: ignore[attr-defined]
