"""Response shapes of the OpenAI API: the completion objects, their stream chunks and the model
cards, built from a runtime and its generations. Pure functions: no I/O, no accounting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from legal_edge.models.merged_build import served_form
from legal_edge.server import choices
from legal_edge.server.generation import Delta, Generation, ModelRuntime
from legal_edge.server.logprobs import chat_logprobs, text_logprobs

ChunkShape = Callable[[str, ModelRuntime, Delta | None, Generation], dict[str, Any]]
FullShape = Callable[[str, ModelRuntime, str, Generation], dict[str, Any]]


@dataclass(frozen=True)
class Shape:
    """How one route shapes its answers: a stream chunk (``None`` delta: the opening chunk) and
    the whole object of a non-streamed answer."""

    chunk: ChunkShape
    full: FullShape


def sse(obj: Any) -> bytes:
    """One server-sent event carrying ``obj`` as JSON."""
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def fingerprint(rt: ModelRuntime) -> str:
    sha = next((f.sha256 for f in rt.manifest.files if f.sha256), None) or rt.name
    return f"fp_{sha[:10]}"


def envelope(
    rid: str, rt: ModelRuntime, obj: str, choice: dict[str, Any], gen: Generation | None = None
) -> dict[str, Any]:
    """The fields every completion object and chunk share; ``gen`` adds the final usage."""
    body: dict[str, Any] = {
        "id": rid,
        "object": obj,
        "created": int(time.time()),
        "model": rt.name,
        "system_fingerprint": fingerprint(rt),
        "choices": [{"index": 0, **choice}],
    }
    if gen is not None:
        body["usage"] = gen.usage.as_dict()
    return body


def chat_chunk(rid: str, rt: ModelRuntime, delta: Delta | None, gen: Generation) -> dict[str, Any]:
    choice: dict[str, Any]
    if delta is None:
        choice = {"delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    elif delta.finish_reason:
        choice = {"delta": {}, "finish_reason": delta.finish_reason}
    elif delta.tool_call is not None:
        choice = {"delta": {"tool_calls": [delta.tool_call]}, "finish_reason": None}
    else:
        choice = {"delta": {"content": delta.text}, "finish_reason": None}
        if gen.prep.params.top_logprobs is not None:
            choice["logprobs"] = chat_logprobs(delta.logprobs)
    return envelope(rid, rt, "chat.completion.chunk", choice)


def chat_full(rid: str, rt: ModelRuntime, text: str, gen: Generation) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if gen.tool_filter is not None and gen.tool_filter.is_call:
        message = {"role": "assistant", "content": text or None}
        message["tool_calls"] = [gen.tool_filter.message_call()]
    logprobs = chat_logprobs(gen.logprobs) if gen.prep.params.top_logprobs is not None else None
    choice = {"message": message, "logprobs": logprobs, "finish_reason": gen.finish_reason}
    return envelope(rid, rt, "chat.completion", choice, gen)


def text_chunk(rid: str, rt: ModelRuntime, delta: Delta | None, gen: Generation) -> dict[str, Any]:
    text = (gen.prep.prompt if gen.prep.echo else "") if delta is None else delta.text
    reason = None if delta is None else delta.finish_reason
    logprobs = None
    if gen.prep.params.top_logprobs is not None:
        # offsets within this chunk's text; the echoed prompt's chunk carries its tokens
        if delta is not None:
            logprobs = text_logprobs(delta.logprobs)
        elif gen.prep.params.prompt_logprobs:
            logprobs = text_logprobs(gen.prompt_logprobs)
    choice = {"text": text, "logprobs": logprobs, "finish_reason": reason}
    return envelope(rid, rt, "text_completion", choice)


def text_full(rid: str, rt: ModelRuntime, text: str, gen: Generation) -> dict[str, Any]:
    logprobs = None
    if gen.prep.params.top_logprobs is not None:
        logprobs = text_logprobs([*gen.prompt_logprobs, *gen.logprobs])
    if gen.prep.echo:
        text = gen.prep.prompt + text
    choice = {"text": text, "logprobs": logprobs, "finish_reason": gen.finish_reason}
    return envelope(rid, rt, "text_completion", choice, gen)


CHAT = Shape(chunk=chat_chunk, full=chat_full)
TEXT = Shape(chunk=text_chunk, full=text_full)


def completion(
    shape: Shape, rt: ModelRuntime, texts: list[str], gens: list[Generation]
) -> dict[str, Any]:
    """A non-streamed answer: one choice per generation, the request's usage and citations."""
    rid = gens[0].prep.request_id
    payload = shape.full(rid, rt, texts[0], gens[0])
    for i, (text, gen) in enumerate(zip(texts, gens, strict=True)):
        if i:
            payload["choices"].append({**shape.full(rid, rt, text, gen)["choices"][0]})
        payload["choices"][i]["index"] = i
    payload["usage"] = choices.usage(gens).as_dict()
    payload.update(choices.extensions(gens))
    return payload


def choice_chunk(
    shape: Shape, rt: ModelRuntime, gens: list[Generation], i: int, delta: Delta | None
) -> dict[str, Any]:
    """Choice ``i``'s stream chunk (``None``: its opening chunk)."""
    out = shape.chunk(gens[0].prep.request_id, rt, delta, gens[i])
    out["choices"][0]["index"] = i
    return out


def usage_chunk(
    shape: Shape, rt: ModelRuntime, gens: list[Generation], extensions: dict[str, Any]
) -> dict[str, Any]:
    """The stream's last chunk when the client asked for usage: no choices, the usage (and
    the ``extensions`` of a grounded answer: citations, grounding)."""
    final = shape.chunk(gens[0].prep.request_id, rt, Delta(""), gens[0])
    final["choices"] = []
    final["usage"] = choices.usage(gens).as_dict()
    final.update(extensions)
    return final


def model_card(rt: ModelRuntime) -> dict[str, Any]:
    m = rt.manifest
    return {
        "id": rt.name,
        "object": "model",
        "created": rt.created,
        "owned_by": "legal-edge",
        "variant": rt.variant,
        "metadata": {
            "base_model": m.base_model,
            "quantization": m.quantization,
            "context_length": rt.backend.context_length,
            "license": m.license,
            "stage": m.stage,
            "description": m.description,
            "adapter": m.file("adapter") is not None,
            "form": served_form(m),  # merged | adapter | model: what this server loaded
            # how /v1/chat/completions renders messages: a client that scores answers through
            # /v1/completions (echo + logprobs) renders the same prompt text with it
            "chat_template": m.chat_template,
            "stop": list(m.stop),
            "evaluation": m.evaluation,
            "ready": rt.backend.ready,
            # llama.cpp: layers on a GPU, whether its build has a GPU backend (n_gpu_layers)
            "offload": getattr(rt.backend, "offload", None),
        },
    }
