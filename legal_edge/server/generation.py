"""From an API request to a stream of text deltas: prompt, limits, stop strings, deadlines, metrics.

Everything here is backend-independent, so llama.cpp, vLLM and the echo backend answer alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from legal_edge.backends.base import (
    Backend,
    BackendNotReady,
    ContextLengthExceeded,
    DeadlineExceeded,
    GenerationRequest,
    InvalidRequest,
    QueueFull,
    SamplingParams,
    TokenChunk,
    TokenLogprob,
)
from legal_edge.models.manifest import ModelManifest
from legal_edge.prompts import TemplateError
from legal_edge.server.constraints import constraints, fit_to_backend
from legal_edge.server.errors import APIError, bad_request
from legal_edge.server.metrics import Metrics
from legal_edge.server.schemas import ChatCompletionRequest, CompletionRequest, to_builtins
from legal_edge.server.tool_calls import ToolCallFilter
from legal_edge.server.tools import ToolPlan, render_with_tools
from legal_edge.server.tools import plan as plan_tools
from legal_edge.settings.server import Settings

MAX_STOP_SEQUENCES = 8
ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


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
    tools: ToolPlan | None = None
    echo: bool = False  # completions: the prompt comes back before the answer


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


# -- request -> prompt ------------------------------------------------------------------------


def chat_prompt(
    req: ChatCompletionRequest, manifest: ModelManifest, tool_plan: ToolPlan | None = None
) -> str:
    if not req.messages:
        raise bad_request("messages: must contain at least one message", "messages")
    messages = []
    for i, m in enumerate(req.messages):
        role = ROLES.get(m.role)
        if role is None:
            raise bad_request(
                f"messages[{i}].role: {m.role!r} is not supported "
                "(use system, user, assistant, tool)",
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
        message: dict[str, Any] = {"role": role, "content": content}
        if m.tool_calls:
            message["tool_calls"] = to_builtins(m.tool_calls)
        if m.tool_call_id is not None:
            message["tool_call_id"] = m.tool_call_id
        messages.append(message)
    try:
        return render_with_tools(manifest.chat_template, messages, tool_plan)
    except TemplateError as exc:
        raise bad_request(f"messages: {exc}", "messages") from None


def completion_prompt(req: CompletionRequest) -> str:
    if isinstance(req.prompt, list):
        if len(req.prompt) != 1:
            raise bad_request("prompt: exactly one prompt per request is supported", "prompt")
        return req.prompt[0]
    return req.prompt


def _check_unsupported(req: ChatCompletionRequest | CompletionRequest) -> None:
    if isinstance(req, CompletionRequest):
        if req.max_tokens == 0 and not req.echo:
            raise bad_request(
                "max_tokens: 0 needs echo: true (the prompt comes back, scored with logprobs)",
                "max_tokens",
            )
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
    return SamplingParams(max_tokens=max_tokens, seed=req.seed, **values, **constraints(req))


def prepare(
    req: ChatCompletionRequest | CompletionRequest,
    runtime: ModelRuntime,
    settings: Settings,
) -> Prepared:
    _check_unsupported(req)
    tool_plan = None
    if isinstance(req, ChatCompletionRequest):
        tool_plan = plan_tools(req)
        prompt = chat_prompt(req, runtime.manifest, tool_plan)
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
    if n_prompt + max(1, requested or 0) > limit:
        exc = ContextLengthExceeded(n_prompt, requested or 0, limit)
        raise APIError(400, str(exc), code="context_length_exceeded", param=param)
    if requested is None:
        requested = min(settings.default_max_tokens, limit - n_prompt)
    max_tokens = requested
    params = sampling_params(req, runtime.manifest, max_tokens)
    if tool_plan is not None and tool_plan.schema is not None:
        params = replace(params, json_schema=tool_plan.schema, grammar_triggers=tool_plan.triggers)
    params = fit_to_backend(params, backend, "tools" if tool_plan else "response_format")
    _check_n(req.n, backend)
    return Prepared(
        request_id=new_id("chatcmpl" if param == "messages" else "cmpl"),
        runtime=runtime,
        prompt=prompt,
        params=params,
        stops=_stops(req),
        prompt_tokens=n_prompt,
        deadline=time.monotonic() + settings.request_timeout_s,
        tools=tool_plan,
        echo=isinstance(req, CompletionRequest) and bool(req.echo),
    )


def _check_n(n: int, backend: Backend) -> None:
    """n choices take n slots: more than the backend can ever hold open is a 400."""
    options = getattr(backend, "options", None)
    if options is None or n <= 1:
        return
    room = options.n_parallel + options.max_queue
    if n > room:
        raise bad_request(
            f"n: {n} choices need {n} sequences; this server holds at most {room} "
            f"(n_parallel {options.n_parallel} + max_queue {options.max_queue})",
            "n",
        )


def for_choice(prep: Prepared, index: int) -> Prepared:
    """Choice ``index`` of an ``n > 1`` request: its own backend request id and, when the
    request is seeded, seed + index (a seeded request stays reproducible)."""
    if index == 0:
        return prep
    seed = prep.params.seed
    return replace(
        prep,
        request_id=f"{prep.request_id}-{index}",
        params=replace(prep.params, seed=None if seed is None else seed + index),
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
    if isinstance(exc, InvalidRequest):
        return bad_request(str(exc), exc.param)
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
    logprobs: tuple[TokenLogprob, ...] = ()  # the tokens behind ``text``, when asked for
    tool_call: dict[str, Any] | None = None  # a piece of a tool call (OpenAI's delta shape)


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
        self.logprobs: list[TokenLogprob] = []  # of every token sent so far
        self.prompt_logprobs: tuple[TokenLogprob, ...] = ()  # echo + logprobs: the prompt's
        self.tool_filter: ToolCallFilter | None = None  # set when the answer may be a call
        self.counts_prompt = True
        # False: no TTFT / inter-token observations (a probe whose tokens no client waits for)
        self.timed = True
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
        self._itl: Any = None

    async def _next(self) -> TokenChunk | None:
        remaining = self.prep.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded()
        try:
            # a timer handle, not a task per token (asyncio.wait_for wraps each call in one)
            async with asyncio.timeout(remaining):
                return await anext(self._stream)
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
        if self._first is not None and self._first.prompt_logprobs:
            # here, not only when the deltas run: a stream's first chunk echoes the prompt
            self.prompt_logprobs = self._first.prompt_logprobs

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
            if not self.timed:
                pass
            elif self._last_token_t is None:
                self.metrics.ttft.labels(**self._labels).observe(now - self._t0)
            else:
                if self._itl is None:  # the labelled child, looked up once per answer
                    self._itl = self.metrics.itl.labels(**self._labels)
                self._itl.observe((now - self._last_token_t) / new_tokens)
            self._last_token_t = now
        if chunk.prompt_logprobs:
            self.prompt_logprobs = chunk.prompt_logprobs
        self.usage.prompt_tokens = chunk.prompt_tokens or self.usage.prompt_tokens
        self.usage.completion_tokens = max(self.usage.completion_tokens, chunk.completion_tokens)

    async def deltas(self) -> AsyncIterator[Delta]:
        """The answer's deltas; with tools, a call comes as ``tool_call`` pieces."""
        plan = self.prep.tools
        if plan is None or plan.choice == "none":
            async for d in self._text_deltas():
                yield d
            return
        self.tool_filter = calls = ToolCallFilter()
        held: list[TokenLogprob] = []
        async for d in self._text_deltas():
            held.extend(d.logprobs)
            for text, call in calls.feed(d.text):
                yield Delta(text, logprobs=tuple(held), tool_call=call)
                held.clear()
        for text, call in calls.finish():
            yield Delta(text, logprobs=tuple(held), tool_call=call)
            held.clear()
        if calls.is_call and self.finish_reason == "stop":
            self.finish_reason = "tool_calls"

    async def _text_deltas(self) -> AsyncIterator[Delta]:
        stopper = StopBuffer(self.prep.stops)
        chunk = self._first
        held: list[TokenLogprob] = []  # logprobs of tokens whose text is held back

        def delta(text: str) -> Delta:
            out = Delta(text, logprobs=tuple(held))
            self.logprobs.extend(held)
            held.clear()
            return out

        try:
            while chunk is not None:
                self._observe(chunk)
                held.extend(chunk.logprobs)
                text, hit = stopper.push(chunk.text)
                if hit:
                    self.finish_reason = "stop"
                    if text:
                        yield delta(text)
                    break
                if text:
                    yield delta(text)
                if chunk.finish_reason:
                    self.finish_reason = chunk.finish_reason
                    break
                chunk = await self._next()
            if self.finish_reason is None:
                self.finish_reason = "stop"
            rest = stopper.flush()  # empty after a stop-string hit; a held-back prefix otherwise
            if rest or held:  # held: the last tokens completed no character
                yield delta(rest)
        finally:
            await self.close()
            if self.counts_prompt:  # the other choices of an n > 1 request share the prompt
                self.metrics.prompt_tokens.labels(**self._labels).inc(self.usage.prompt_tokens)
            self.metrics.generation_tokens.labels(**self._labels).inc(self.usage.completion_tokens)
