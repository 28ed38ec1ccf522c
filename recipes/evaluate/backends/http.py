"""Any OpenAI-compatible server: ``POST {url}/v1/chat/completions``, greedy, with stop strings.

The server renders the chat template itself (from its own manifest), which is the point: this
measures what users of the server get. Chat endpoints return no prompt log-probabilities, so
log-likelihood scoring is not available here; suites report only generation-based metrics for
this backend. A server that is down fails fast with its URL before any item is scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from recipes.evaluate.backends.base import BackendError, ContextOverflow, Messages

if TYPE_CHECKING:
    from recipes.evaluate.config import ModelSpec


class HTTPBackend:
    supports_loglik = False

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        client: httpx.Client | None = None,
        seed: int = 0,
    ) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[:-3]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout_s)
        self.client.headers.update(headers)
        self.seed = seed
        try:
            resp = self.client.get("/v1/models", timeout=min(timeout_s, 10.0))
        except httpx.HTTPError as exc:
            raise BackendError(f"http backend: cannot reach {self.url}/v1/models: {exc}") from None
        if resp.status_code != 200:
            raise BackendError(
                f"http backend: {self.url}/v1/models answered {resp.status_code}: {resp.text[:200]}"
            )
        names = [m.get("id") for m in resp.json().get("data", [])]
        if model is None:
            if not names:
                raise BackendError(f"http backend: {self.url} serves no models")
            model = names[0]
        elif names and model not in names:
            raise BackendError(
                f"http backend: {self.url} does not serve {model!r} (serves {names})"
            )
        self.model = model

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> HTTPBackend:
        if not spec.url:
            raise BackendError(f"model {spec.name}: backend http needs url")
        return cls(spec.url, model=spec.api_model, api_key=spec.api_key, timeout_s=spec.timeout_s)

    def loglikelihoods(
        self, messages: Messages, continuations: Any, prefill: str = ""
    ) -> list[float]:
        raise BackendError("http backend cannot score log-likelihoods")

    def generate(self, messages: Messages, max_tokens: int) -> str:
        body = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "seed": self.seed,
            "stream": False,
        }
        try:
            resp = self.client.post("/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise BackendError(
                f"http backend: {self.url}/v1/chat/completions failed: {exc}"
            ) from None
        if resp.status_code == 400 and "context_length_exceeded" in resp.text:
            raise ContextOverflow(f"{self.url}: {resp.text[:200]}")
        if resp.status_code != 200:
            raise BackendError(
                f"http backend: {self.url}/v1/chat/completions answered {resp.status_code}: "
                f"{resp.text[:300]}"
            )
        return resp.json()["choices"][0]["message"]["content"] or ""

    def describe(self) -> dict[str, Any]:
        return {"backend": "http", "url": self.url, "model": self.model}

    def close(self) -> None:
        self.client.close()
