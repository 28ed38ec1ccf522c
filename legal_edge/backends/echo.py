"""A deterministic backend for tests: answers with the last user turn, word by word.

No model is loaded. Tokens are whitespace-separated words, so usage figures are exact and
predictable. ``max_tokens`` truncates (finish_reason "length").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from legal_edge.backends.base import (
    BackendOptions,
    ContextLengthExceeded,
    GenerationRequest,
    QueueFull,
    TokenChunk,
    TokenLogprob,
)
from legal_edge.models.manifest import ModelManifest

_TURN = re.compile(r"<start_of_turn>user\n(.*?)<end_of_turn>", re.S)
_WORD = re.compile(r"\s*\S+(?:\s+$)?")  # a word with the space before it (and a trailing one)


class EchoBackend:
    # accepted so the API's shapes can be tested without a model: a grammar is not applied (the
    # echo is the answer), each word's logprob is 0 (the prompt's too), a logit bias changes
    # nothing
    features = frozenset({"grammar", "logprobs", "logit_bias", "prompt_logprobs", "prompt_only"})

    def __init__(self, manifest: ModelManifest, options: BackendOptions):
        self.manifest = manifest
        self.options = options
        self._ready = False
        self._running = 0
        self._waiting = 0
        self._slots = asyncio.Semaphore(options.n_parallel)
        # delay per token, so tests can observe streams in flight
        self._delay = float(options.extra.get("echo_delay_s", 0.0))  # type: ignore[arg-type]

    async def start(self) -> None:
        self._ready = True

    async def stop(self) -> None:
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def context_length(self) -> int:
        return min(self.options.n_ctx, self.manifest.context_length)

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split()) + 1  # + BOS

    def stats(self) -> dict[str, int]:
        return {"running": self._running, "waiting": self._waiting}

    def _prompt_logprobs(self, prompt: str, top: int) -> tuple[TokenLogprob, ...]:
        """The BOS (None: nothing before it), then every word of the prompt at logprob 0."""
        out = [TokenLogprob("", b"", None)]
        for m in _WORD.finditer(prompt):
            data = m.group().encode()
            out.append(TokenLogprob(m.group(), data, 0.0, ((m.group(), data, 0.0),) * min(top, 1)))
        return tuple(out)

    def _answer(self, prompt: str) -> list[str]:
        turns = _TURN.findall(prompt)
        text = turns[-1] if turns else prompt
        return text.split()

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenChunk]:
        n_prompt = self.count_tokens(request.prompt)
        if n_prompt >= self.context_length:
            raise ContextLengthExceeded(n_prompt, request.params.max_tokens, self.context_length)
        if self._slots.locked() and self._waiting >= self.options.max_queue:
            raise QueueFull(self.options.queue_timeout_s)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._running += 1
        try:
            words = self._answer(request.prompt)
            limit = min(request.params.max_tokens, self.context_length - n_prompt)
            top = request.params.top_logprobs
            prompt_lps = (
                self._prompt_logprobs(request.prompt, top or 0)
                if request.params.prompt_logprobs
                else ()
            )
            for i, word in enumerate(words[:limit]):
                if self._delay:
                    await asyncio.sleep(self._delay)
                text = (" " if i else "") + word
                data = text.encode()
                lp = (
                    ()
                    if top is None
                    else (TokenLogprob(text, data, 0.0, ((text, data, 0.0),) * min(top, 1)),)
                )
                yield TokenChunk(
                    text=text,
                    prompt_tokens=n_prompt,
                    completion_tokens=i + 1,
                    logprobs=lp,
                    prompt_logprobs=prompt_lps,
                )
                prompt_lps = ()
            done = min(len(words), limit)
            reason = "length" if len(words) > limit else "stop"
            yield TokenChunk(
                text="",
                prompt_tokens=n_prompt,
                completion_tokens=done,
                finish_reason=reason,
                prompt_logprobs=prompt_lps,
            )
        finally:
            self._running -= 1
            self._slots.release()
