"""From an API request to a stream of text deltas: prompt, limits, stop strings, deadlines, metrics.

Everything here is backend-independent, so llama.cpp, vLLM and the echo backend answer alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from legal_edge.backends.base import (
    Backend,
    BackendNotReady,
    ContextLengthExceeded,
    DeadlineExceeded,
    GenerationRequest,
    QueueFull,
    SamplingParams,
    TokenChunk,
)
from legal_edge.manifest import ModelManifest
from legal_edge.prompts import TemplateError, render_chat
from legal_edge.server.errors import APIError, bad_request
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest
from legal_edge.settings import Settings

MAX_STOP_SEQUENCES = 8
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class ModelRuntime:
    """One served model: its manifest, its backend and its A/B variant label."""

    name: str
    manifest: ModelManifest
    backend: Backend
    variant: str = "default"
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Prepared:
    """A validated request, ready to run."""

    request_id: str
    runtime: ModelRuntime
    prompt: str
    params: SamplingParams
    stops: tuple[str, ...]
    prompt_tokens: int
    deadline: float


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


# -- request -> prompt ------------------------------------------------------------------------


def chat_prompt(req: ChatCompletionRequest, manifest: ModelManifest) -> str:
    if not req.messages:
        raise bad_request("messages: must contain at least one message", "messages")
    messages = []
    for i, m in enumerate(req.messages):
        role = ROLES.get(m.role)
        if role is None:
            raise bad_request(
                f"messages[{i}].role: {m.role!r} is not supported (use system, user, assistant)",
                f"messages[{i}].role",
            )
        if isinstance(m.content, list):
            parts = []
            for j, part in enumerate(m.content):
                if part.type != "text" or part.text is None:
                    raise bad_request(
                        f"messages[{i}].content[{j}]: only text parts are supported",
                        f"messages[{i}].content",
                    )
                parts.append(part.text)
            content = "".join(parts)
        else:
            content = m.content or ""
        messages.append({"role": role, "content": content})
    try:
        return render_chat(manifest.chat_template, messages)
    except TemplateError as exc:
        raise bad_request(f"messages: {exc}", "messages") from None


def completion_prompt(req: CompletionRequest) -> str:
    if isinstance(req.prompt, list):
        if len(req.prompt) != 1:
            raise bad_request("prompt: exactly one prompt per request is supported", "prompt")
        return req.prompt[0]
    return req.prompt


def _check_unsupported(req: ChatCompletionRequest | CompletionRequest) -> None:
    if req.n != 1:
        raise bad_request("n: only n=1 is supported", "n")
    if req.logprobs:
        raise bad_request("logprobs: not supported by this server", "logprobs")
    if req.logit_bias:
        raise bad_request("logit_bias: not supported by this server", "logit_bias")
    if isinstance(req, ChatCompletionRequest):
        if req.tools:
            raise bad_request("tools: tool calling is not supported by this server", "tools")
        fmt = req.response_format.type if req.response_format else "text"
        if fmt != "text":
            raise bad_request(f"response_format: {fmt!r} is not supported", "response_format")
    else:
        if req.echo:
            raise bad_request("echo: not supported", "echo")
        if req.suffix:
            raise bad_request("suffix: not supported", "suffix")
        if req.best_of not in (None, 1):
            raise bad_request("best_of: only 1 is supported", "best_of")


def _stops(req: ChatCompletionRequest | CompletionRequest) -> tuple[str, ...]:
    stop = req.stop
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else list(stop)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise bad_request(f"stop: at most {MAX_STOP_SEQUENCES} sequences", "stop")
    if any(not s for s in stops):
        raise bad_request("stop: sequences must not be empty", "stop")
    return tuple(stops)


# Request fields that fall back to the model manifest's ``generation`` section, then to
# SamplingParams' defaults (temperature 1, top_p 1, no penalties: OpenAI's).
_REQUEST_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


def sampling_params(
    req: ChatCompletionRequest | CompletionRequest, manifest: ModelManifest, max_tokens: int
) -> SamplingParams:
    """The request's sampling fields, else the model's defaults (``manifest.generation``)."""
    values: dict[str, Any] = dict(manifest.generation or {})
    for name in _REQUEST_SAMPLING:
        if getattr(req, name) is not None:
            values[name] = getattr(req, name)
    return SamplingParams(max_tokens=max_tokens, seed=req.seed, **values)


def prepare(
    req: ChatCompletionRequest | CompletionRequest,
    runtime: ModelRuntime,
    settings: Settings,
) -> Prepared:
    _check_unsupported(req)
    if isinstance(req, ChatCompletionRequest):
        prompt = chat_prompt(req, runtime.manifest)
        requested = req.max_completion_tokens or req.max_tokens
        param = "messages"
    else:
        prompt = completion_prompt(req)
        requested = req.max_tokens
        param = "prompt"
    backend = runtime.backend
    if not backend.ready:
        raise APIError(
            503,
            "the model is still loading",
            code="model_not_ready",
            type="server_error",
            headers={"Retry-After": "5"},
        )
    limit = backend.context_length
    n_prompt = backend.count_tokens(prompt)
    if n_prompt + (requested or 1) > limit:
        exc = ContextLengthExceeded(n_prompt, requested or 0, limit)
        raise APIError(400, str(exc), code="context_length_exceeded", param=param)
    max_tokens = requested or min(settings.default_max_tokens, limit - n_prompt)
    params = sampling_params(req, runtime.manifest, max_tokens)
    return Prepared(
        request_id=new_id("chatcmpl" if param == "messages" else "cmpl"),
        runtime=runtime,
        prompt=prompt,
        params=params,
        stops=_stops(req),
        prompt_tokens=n_prompt,
        deadline=time.monotonic() + settings.request_timeout_s,
    )


# -- stop strings ---------------------------------------------------------------------------


class StopBuffer:
    """Holds back text that could be the start of a stop string; cuts at the first match."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = stops
        self.pending = ""
        self.hold = max((len(s) for s in stops), default=1) - 1

    def push(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, stopped)."""
        if not self.stops:
            return text, False
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self.pending = self.pending[:cut], ""
            return out, True
        keep = 0
        for n in range(min(self.hold, len(self.pending)), 0, -1):
            tail = self.pending[-n:]
            if any(s.startswith(tail) for s in self.stops):
                keep = n
                break
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out) :]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


# -- running ---------------------------------------------------------------------------------


def map_backend_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, ContextLengthExceeded):
        return APIError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, QueueFull):
        retry = max(1, int(round(exc.retry_after)))
        return APIError(
            503,
            str(exc),
            code="server_overloaded",
            type="server_error",
            headers={"Retry-After": str(retry)},
        )
    if isinstance(exc, DeadlineExceeded):
        return APIError(
            504,
            "the request did not finish before its deadline",
            code="timeout",
            type="server_error",
        )
    if isinstance(exc, BackendNotReady):
        return APIError(
            503,
            "the model is not ready",
            code="model_not_ready",
            type="server_error",
            headers={"Retry-After": "5"},
        )
    # Anything else is a bug: logged with its traceback, answered (and counted) as a 500.
    logging.getLogger("legal_edge.server").error("request failed", exc_info=exc)
    return APIError(500, "internal server error", code="internal_error", type="server_error")


@dataclass
class Delta:
    text: str
    finish_reason: str | None = None


class Generation:
    """Runs one prepared request: text deltas after stop handling, usage, metrics.

    ``start()`` pulls the first chunk, so admission errors (queue full, context) surface before
    any response is sent; then iterate ``deltas()``.
    """

    def __init__(self, prep: Prepared, metrics: Metrics):
        self.prep = prep
        self.metrics = metrics
        self.usage = Usage(prompt_tokens=prep.prompt_tokens)
        self.finish_reason: str | None = None
        self._stream = prep.runtime.backend.generate(
            GenerationRequest(
                request_id=prep.request_id,
                prompt=prep.prompt,
                params=prep.params,
                deadline=prep.deadline,
            )
        )
        self._first: TokenChunk | None = None
        self._t0 = time.monotonic()
        self._last_token_t: float | None = None
        self._labels = {"model": prep.runtime.name, "variant": prep.runtime.variant}

    async def _next(self) -> TokenChunk | None:
        remaining = self.prep.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded()
        try:
            return await asyncio.wait_for(anext(self._stream), timeout=remaining)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise DeadlineExceeded() from None

    async def start(self) -> None:
        try:
            self._first = await self._next()
        except Exception as exc:
            await self.close()
            raise map_backend_error(exc) from None

    async def close(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing must never mask the original outcome
                pass

    def _observe(self, chunk: TokenChunk) -> None:
        now = time.monotonic()
        new_tokens = chunk.completion_tokens - self.usage.completion_tokens
        if new_tokens > 0:
            if self._last_token_t is None:
                self.metrics.ttft.labels(**self._labels).observe(now - self._t0)
            else:
                self.metrics.itl.labels(**self._labels).observe(
                    (now - self._last_token_t) / new_tokens
                )
            self._last_token_t = now
        self.usage.prompt_tokens = chunk.prompt_tokens or self.usage.prompt_tokens
        self.usage.completion_tokens = max(self.usage.completion_tokens, chunk.completion_tokens)

    async def deltas(self) -> AsyncIterator[Delta]:
        stopper = StopBuffer(self.prep.stops)
        chunk = self._first
        try:
            while chunk is not None:
                self._observe(chunk)
                text, hit = stopper.push(chunk.text)
                if hit:
                    self.finish_reason = "stop"
                    if text:
                        yield Delta(text)
                    break
                if text:
                    yield Delta(text)
                if chunk.finish_reason:
                    self.finish_reason = chunk.finish_reason
                    break
                chunk = await self._next()
            if self.finish_reason is None:
                self.finish_reason = "stop"
            rest = stopper.flush()  # empty after a stop-string hit; a held-back prefix otherwise
            if rest:
                yield Delta(rest)
        finally:
            await self.close()
            self.metrics.prompt_tokens.labels(**self._labels).inc(self.usage.prompt_tokens)
            self.metrics.generation_tokens.labels(**self._labels).inc(self.usage.completion_tokens)
