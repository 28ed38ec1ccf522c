"""Any OpenAI-compatible server: generation through ``/v1/chat/completions``, log-likelihood
scoring through ``/v1/completions`` with ``echo`` + ``logprobs`` + ``max_tokens: 0``.

Generation lets the server render the chat template itself (from its own manifest), which is
the point: this measures what users of the server get. Scoring needs the log-probabilities of
the answer's tokens after the prompt, which only the legacy completions endpoint returns (the
prompt echoed with its own logprobs, as lm-evaluation-harness scores through a server): the
prompt is rendered here with the same template the ``gguf`` backend uses, taken from, in order,
the model's ``chat_template`` setting, the template the server publishes for the model
(legal-edge: ``/v1/models/{id}`` ``metadata.chat_template``; llama-server: ``/props``). A
server that cannot return prompt log-probabilities fails with a clear error, never a silent
fallback to generation. A server that is down fails fast with its URL before any item is scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from legal_edge.prompts import TemplateError, render_chat
from recipes.evaluate.backends.base import BackendError, ContextOverflow, Messages, pick_template

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recipes.evaluate.config import ModelSpec

GENERATE_ONLY = "evaluate it by generation only (the suite's modes: [generate])"


class HTTPBackend:
    supports_loglik = True  # when the server can echo the prompt's logprobs; else a clear error

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        client: httpx.Client | None = None,
        seed: int = 0,
        chat_template: str | None = None,
        server_grounds: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[:-3]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout_s)
        self.client.headers.update(headers)
        self.seed = seed
        self.server_grounds = server_grounds  # see ModelSpec.server_grounds
        self._template_setting = chat_template
        self._template: str | None = None
        self.template_source: str | None = None  # "config" | "server" | "llama-server /props"
        try:
            resp = self.client.get("/v1/models", timeout=min(timeout_s, 10.0))
        except httpx.HTTPError as exc:
            raise BackendError(f"http backend: cannot reach {self.url}/v1/models: {exc}") from None
        if resp.status_code != 200:
            raise BackendError(
                f"http backend: {self.url}/v1/models answered {resp.status_code}: {resp.text[:200]}"
            )
        cards = {m.get("id"): m for m in resp.json().get("data", [])}
        names = list(cards)
        if model is None:
            if not names:
                raise BackendError(f"http backend: {self.url} serves no models")
            model = names[0]
        elif names and model not in names:
            raise BackendError(
                f"http backend: {self.url} does not serve {model!r} (serves {names})"
            )
        self.model = model
        self._card = cards.get(model) or {}

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> HTTPBackend:
        if not spec.url:
            raise BackendError(f"model {spec.name}: backend http needs url")
        return cls(
            spec.url,
            model=spec.api_model,
            api_key=spec.api_key,
            timeout_s=spec.timeout_s,
            chat_template=spec.chat_template,
            server_grounds=spec.server_grounds,
        )

    # -- the prompt as the server's model sees it -----------------------------------------------
    @property
    def template(self) -> str:
        """The chat template scoring prompts are rendered with (looked up once)."""
        if self._template is None:
            self._template, self.template_source = self._find_template()
        return self._template

    def _find_template(self) -> tuple[str, str]:
        if self._template_setting:
            return pick_template(self._template_setting, "", ())[0], "config"
        served = (self._card.get("metadata") or {}).get("chat_template")
        if served:
            return str(served), "server"
        try:  # llama-server publishes its template here
            props = self.client.get("/props", timeout=10.0)
            if props.status_code == 200 and props.json().get("chat_template"):
                return str(props.json()["chat_template"]), "llama-server /props"
        except (httpx.HTTPError, ValueError):
            pass
        raise BackendError(
            f"http backend: {self.url} does not publish the chat template of {self.model!r}, "
            "which log-likelihood scoring renders prompts with: set chat_template (gemma, "
            f"chatml or Jinja text) on this model, or {GENERATE_ONLY}"
        )

    def render(self, messages: Messages) -> str:
        try:
            return render_chat(self.template, messages)
        except TemplateError as exc:
            raise BackendError(f"http backend: chat template of {self.model!r}: {exc}") from None

    # -- the EvalBackend interface -------------------------------------------------------------
    def loglikelihoods(
        self, messages: Messages, continuations: Sequence[str], prefill: str = ""
    ) -> list[float]:
        context = self.render(messages) + prefill
        return [self._score(context, text) for text in continuations]

    def _score(self, context: str, continuation: str) -> float:
        """Sum of the logprobs of ``continuation``'s tokens after ``context``: the tokens that
        start at or after the context's end in the echoed text (``text_offset``); a token that
        spans the boundary counts with the continuation."""
        prompt = context + continuation
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 0,
            "echo": True,
            "logprobs": 0,
            "temperature": 0.0,
        }
        data = self._post("/v1/completions", body, "score the prompt")
        choice = (data.get("choices") or [{}])[0]
        lp = choice.get("logprobs") or {}
        offsets, values = lp.get("text_offset") or [], lp.get("token_logprobs") or []
        if not str(choice.get("text", "")).startswith(prompt) or len(offsets) != len(values):
            raise BackendError(
                f"http backend: {self.url}/v1/completions did not echo the prompt with its "
                f"log-probabilities (echo + logprobs + max_tokens 0); {GENERATE_ONLY}"
            )
        start = next((i for i, o in enumerate(offsets) if o >= len(context)), len(offsets))
        if start == len(offsets) or offsets[start] > len(context):
            start -= 1  # a token spanning the end of the context
        picked = values[max(start, 0) :]
        if start < 1 or not picked or any(v is None for v in picked):
            raise BackendError(
                f"http backend: {self.url} returned no log-probabilities for the answer "
                f"{continuation!r} after the prompt; {GENERATE_ONLY}"
            )
        return float(sum(picked))

    def _post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            resp = self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"http backend: {self.url}{path} failed: {exc}") from None
        if resp.status_code == 400 and "context_length_exceeded" in resp.text:
            raise ContextOverflow(f"{self.url}: {resp.text[:200]}")
        if resp.status_code != 200:
            hint = f"; {GENERATE_ONLY}" if path == "/v1/completions" else ""
            raise BackendError(
                f"http backend: {self.url}{path} cannot {what}: it answered "
                f"{resp.status_code}: {resp.text[:300]}{hint}"
            )
        return resp.json()  # type: ignore[no-any-return]

    def chat(self, messages: Messages, max_tokens: int) -> dict[str, Any]:
        """The server's whole chat completion (greedy): its answer and, from a grounded
        legal-edge server, its ``citations``."""
        body = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "seed": self.seed,
            "stream": False,
        }
        return self._post("/v1/chat/completions", body, "generate")

    def generate(self, messages: Messages, max_tokens: int) -> str:
        return self.chat(messages, max_tokens)["choices"][0]["message"]["content"] or ""

    def describe(self) -> dict[str, Any]:
        # scoring prompts: the configured template, else the one the server publishes
        template = self._template_setting if self._template_setting in ("gemma", "chatml") else None
        source = "config" if self._template_setting else "server"
        return {
            "backend": "http",
            "url": self.url,
            "model": self.model,
            "chat_template": template or source,
            "server_grounds": self.server_grounds,
        }

    def close(self) -> None:
        self.client.close()
