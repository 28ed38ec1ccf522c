"""The contract between the HTTP server and an inference backend.

A backend turns a rendered prompt into a stream of text deltas. The server does everything
around it (chat templates, request ``stop`` strings, usage, SSE, errors, metrics), so every
backend behaves the same to a client. Cancellation is closing the async iterator returned by
``generate`` (or cancelling the task consuming it): the backend must then free the request's
resources at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from legal_edge.models.manifest import ModelManifest


@dataclass(frozen=True)
class BackendOptions:
    """Engine knobs shared by backends (each ignores what does not apply to it)."""

    n_threads: int = 0  # 0: all physical cores
    n_parallel: int = 8  # sequences decoded together (continuous batching slots)
    n_ctx: int = 4096  # context per sequence (prompt + completion); capped by the model's
    n_batch: int = 512  # max tokens per llama_decode call (prompt chunking)
    max_queue: int = 64  # requests allowed to wait for a slot; beyond -> QueueFull (503)
    queue_timeout_s: float = 30.0  # Retry-After hint when the queue is full
    seed: int = 0  # default sampling seed when a request gives none
    cpu_repack: str = "auto"  # llama.cpp weight repacking: auto (probe) | on | off
    n_gpu_layers: str = "auto"  # llama.cpp layers on a GPU: auto | 0 (CPU) | N
    batch_invariant: bool = False  # one sequence per llama_decode: answers never depend on load
    extra: dict[str, object] = field(default_factory=dict)  # backend-specific (e.g. vLLM)


# The lazy trigger of tool_choice auto: the answer (after blanks) starts a JSON object. The one
# trigger the server sends; vLLM's mapping knows only this one.
OBJECT_TRIGGER = r"^\s*(\{[\s\S]*)"


@dataclass(frozen=True)
class SamplingParams:
    """How tokens are picked. The repetition controls count only the answer's own tokens (never
    the prompt's), so an answer may use the question's terms freely; the defaults switch them
    off. A model manifest's ``generation`` section may set them (see ``GENERATION_KEYS``)."""

    max_tokens: int = 256  # 0: the prompt only, nothing generated (ends with "length")
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    # OpenAI: logit -= frequency_penalty * count + presence_penalty * (count > 0), per token.
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    # llama.cpp's repeat penalty (CTRL): a seen token's logit is divided by it (times if < 0).
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64  # answer tokens the three penalties look back on (-1: all, 0: off)
    # DRY ("don't repeat yourself"): a token that would extend a repeat of more than
    # dry_allowed_length tokens loses dry_multiplier * dry_base ** (length - allowed); 0 = off.
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_last_n: int = -1  # answer tokens DRY looks back on (-1: all)
    # Past end_bias_after answer tokens, end-of-turn gains end_bias logits per further token:
    # an answer that has said its piece ends at the next likely stop instead of running on to
    # max_tokens (0 = off; llama.cpp only).
    end_bias: float = 0.0
    end_bias_after: int = 256
    # Structured output: ``json_schema`` (JSON text) is the schema the answer must follow, as
    # the server validated it; a backend with the "grammar" feature gets it as a GBNF grammar
    # (root rule ``root``) too, one with "json_schema" (vLLM) enforces the schema itself.
    # ``grammar_triggers``: regexes that switch it on lazily (tool calls under tool_choice auto:
    # free text until the answer matches, the constraint from the first capture group on).
    json_schema: str | None = None
    grammar: str | None = None
    grammar_triggers: tuple[str, ...] = ()
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit)
    top_logprobs: int | None = None  # None: no logprobs; k: the token's and the k most likely
    # The prompt's own tokens with their log-probabilities (completions ``echo`` + ``logprobs``):
    # logits for every prompt position, so the prompt is computed afresh (no cached prefix).
    prompt_logprobs: bool = False

    @property
    def penalised(self) -> bool:
        """Whether any repetition control is on."""
        penalties = self.repeat_last_n != 0 and (
            self.repeat_penalty != 1.0 or self.frequency_penalty or self.presence_penalty
        )
        return bool(penalties) or (self.dry_multiplier > 0 and self.dry_last_n != 0)

    @property
    def constrained(self) -> bool:
        """Whether a grammar, schema or logit bias changes which tokens may be picked."""
        return self.grammar is not None or self.json_schema is not None or bool(self.logit_bias)


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log-probability under the model, with the ``top`` alternatives
    (``(text, bytes, logprob)``, most likely first). ``logprob`` is None for a prompt's first
    token: nothing comes before it to predict it from."""

    text: str
    data: bytes
    logprob: float | None
    top: tuple[tuple[str, bytes, float], ...] = ()


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt: str  # fully rendered; special tokens such as <start_of_turn> are parsed as such
    params: SamplingParams
    deadline: float | None = None  # time.monotonic() after which the request is abandoned


@dataclass(frozen=True)
class TokenChunk:
    """One step of output. ``text`` may be empty (a token that completes no UTF-8 character)."""

    text: str
    prompt_tokens: int
    completion_tokens: int  # cumulative, including this chunk
    finish_reason: str | None = None  # "stop" (end of turn / EOS) | "length" | None
    logprobs: tuple[TokenLogprob, ...] = ()  # the tokens of this chunk, when asked for
    # every prompt token, first chunk only, when ``SamplingParams.prompt_logprobs`` asked for it
    prompt_logprobs: tuple[TokenLogprob, ...] = ()


class BackendError(RuntimeError):
    """Base class; the server maps each subclass to an HTTP status and OpenAI error code."""


class ContextLengthExceeded(BackendError):
    def __init__(self, prompt_tokens: int, max_tokens: int, limit: int):
        self.prompt_tokens, self.max_tokens, self.limit = prompt_tokens, max_tokens, limit
        super().__init__(
            f"This model's maximum context length is {limit} tokens; the prompt has "
            f"{prompt_tokens} tokens"
            + (f" and {max_tokens} were requested for the completion" if max_tokens else "")
        )


class InvalidRequest(BackendError):
    """The request asks for something this backend or model cannot do (a 400 naming ``param``)."""

    def __init__(self, message: str, param: str):
        self.param = param
        super().__init__(message)


class QueueFull(BackendError):
    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__("the server is at capacity; retry later")


class DeadlineExceeded(BackendError):
    pass


class BackendNotReady(BackendError):
    pass


@runtime_checkable
class Backend(Protocol):
    manifest: ModelManifest

    async def start(self) -> None:
        """Load the model. Called once in the app's lifespan, before ``ready``."""

    async def stop(self) -> None:
        """Finish or end running requests and free the model."""

    @property
    def ready(self) -> bool: ...

    @property
    def context_length(self) -> int:
        """Tokens per sequence (prompt + completion)."""
        ...

    def count_tokens(self, prompt: str) -> int:
        """Tokens ``prompt`` becomes (with BOS), for the context check and usage."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        """Stream the completion. Raises ``ContextLengthExceeded`` / ``QueueFull`` before the
        first chunk when the request cannot run; ends with a chunk whose ``finish_reason`` is
        set."""
        ...

    def stats(self) -> dict[str, int]:
        """``{"running": n, "waiting": n}`` for metrics and admission control."""
        ...


class Admission:
    """Open requests (running + waiting) against ``n_parallel + max_queue``, shared by the
    engine backends: ``admit`` before a request runs (``QueueFull`` beyond the bound),
    ``release`` when it ends, ``drain`` on shutdown waits for the open ones to finish."""

    def __init__(self, options: BackendOptions):
        self.limit = options.n_parallel + options.max_queue
        self.retry_after = options.queue_timeout_s
        self.open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def admit(self) -> None:
        if self.open >= self.limit:
            raise QueueFull(self.retry_after)
        self.open += 1
        self._idle.clear()

    def release(self) -> None:
        self.open -= 1
        if self.open == 0:
            self._idle.set()

    async def drain(self, seconds: float) -> None:
        """Wait up to ``seconds`` for every admitted request to finish."""
        if seconds > 0:
            try:
                await asyncio.wait_for(self._idle.wait(), seconds)
            except TimeoutError:
                pass
