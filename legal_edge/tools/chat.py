"""``legal-edge chat``: a terminal chat against a running server, streaming tokens as they come."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import click
import httpx

from legal_edge.tools.sse import parse_line


class ChatError(RuntimeError):
    pass


def stream_chat(
    client: httpx.Client,
    url: str,
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int | None,
    temperature: float | None,
) -> Iterator[str]:
    """Yield content deltas of one streamed chat completion; raise ChatError on API errors."""
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    with client.stream("POST", f"{url}/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            resp.read()
            try:
                message = resp.json()["error"]["message"]
            except Exception:
                message = resp.text
            raise ChatError(f"HTTP {resp.status_code}: {message}")
        for line in resp.iter_lines():
            event = parse_line(line)
            if event is None:
                continue
            if isinstance(event, str):  # DONE
                return
            if "error" in event:
                raise ChatError(event["error"].get("message", "stream error"))
            for choice in event.get("choices", []):
                text = choice.get("delta", {}).get("content")
                if text:
                    yield text


def default_model(client: httpx.Client, url: str) -> str:
    resp = client.get(f"{url}/models")
    if resp.status_code != 200:
        raise ChatError(f"GET {url}/models: HTTP {resp.status_code}")
    data = resp.json().get("data", [])
    if not data:
        raise ChatError("the server serves no model")
    return str(data[0]["id"])


@click.command("chat")
@click.option(
    "--url",
    default="http://127.0.0.1:8000/v1",
    show_default=True,
    help="Base URL of the OpenAI-compatible API.",
)
@click.option("--model", default=None, help="Model id (default: the server's first model).")
@click.option(
    "--api-key",
    default=lambda: os.environ.get("LEGAL_EDGE_API_KEY", ""),
    help="API key (env LEGAL_EDGE_API_KEY).",
)
@click.option(
    "--system", default="你是一名严谨的中国法律助手。", show_default=True, help="System prompt."
)
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=None)
def chat_command(
    url: str,
    model: str | None,
    api_key: str,
    system: str,
    max_tokens: int,
    temperature: float | None,
) -> None:
    """Chat with a running legal-edge server in the terminal (/exit or Ctrl-D to quit)."""
    url = url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    with httpx.Client(headers=headers, timeout=httpx.Timeout(600, connect=5)) as client:
        try:
            model = model or default_model(client, url)
        except (httpx.HTTPError, ChatError) as exc:
            raise click.ClickException(f"cannot reach {url}: {exc}") from None
        click.echo(f"legal-edge chat · {model} · /exit to quit")
        while True:
            try:
                question = click.prompt("你", prompt_suffix="> ")
            except (EOFError, click.Abort):
                click.echo()
                return
            if question.strip() in ("/exit", "/quit"):
                return
            messages.append({"role": "user", "content": question})
            parts: list[str] = []
            try:
                for text in stream_chat(client, url, model, messages, max_tokens, temperature):
                    parts.append(text)
                    click.echo(text, nl=False)
            except (httpx.HTTPError, ChatError) as exc:
                click.echo()
                click.echo(f"error: {exc}", err=True)
                messages.pop()
                continue
            click.echo()
            messages.append({"role": "assistant", "content": "".join(parts)})
