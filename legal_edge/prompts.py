"""Chat templates: how a list of messages becomes the prompt text a model sees.

Training, evaluation, export and the server all render prompts through ``render_chat`` with the
template recorded in the model manifest, so they cannot disagree on the format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.sandbox

# Gemma's turn format. The base Gemma-3-270M GGUF carries no chat template, so the default
# manifest supplies this one. A system message is folded into the first user turn, as Gemma's
# own template does. The BOS token is not written here: the tokenizer adds it.
GEMMA_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}"
    "{%- set ns.system = ns.system + (m['content'] | trim) + '\\n\\n' -%}"
    "{%- else -%}"
    "{%- set role = 'model' if m['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{%- if role == 'user' and ns.system -%}{{ ns.system }}{%- set ns.system = '' -%}{%- endif -%}"
    "{{ (m['content'] | trim) + '<end_of_turn>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
GEMMA_STOP = ("<end_of_turn>",)

# ChatML (Qwen and many others), for models whose GGUF has no template of its own.
CHATML_TEMPLATE = (
    "{%- for m in messages -%}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
CHATML_STOP = ("<|im_end|>",)

# End-of-turn markers of common chat formats, most specific first: a template that writes one
# ends its turns there (``template_stops``).
TURN_ENDS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


def template_stops(template: str) -> list[str]:
    """The end-of-turn marker ``template`` writes, as a stop list (empty if none is known)."""
    return next(([m] for m in TURN_ENDS if m in template), [])


KNOWN_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gemma": (GEMMA_CHAT_TEMPLATE, GEMMA_STOP),
    "chatml": (CHATML_TEMPLATE, CHATML_STOP),
}


class TemplateError(ValueError):
    """A chat template that cannot render the given messages."""


@lru_cache(maxsize=32)
def _compile(template: str) -> jinja2.Template:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )

    def raise_exception(msg: str) -> None:
        raise TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc}") from None


def render_chat(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Render ``messages`` ({role, content}) with a Jinja chat template (HF conventions;
    ``tools``, when given, as HF templates that support tool calling expect them)."""
    extra = {} if tools is None else {"tools": [dict(t) for t in tools]}
    try:
        return _compile(template).render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            **extra,
        )
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"chat template failed: {exc}") from None


def record_to_messages(record: Mapping[str, Any]) -> list[dict[str, str]]:
    """A prepared record (``{instruction, input, output}`` or ``messages``) as chat messages."""
    if record.get("messages"):
        return [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    user = str(record.get("instruction") or "").strip()
    extra = str(record.get("input") or "").strip()
    if extra:
        user = f"{user}\n\n{extra}" if user else extra
    msgs = [{"role": "user", "content": user}]
    if record.get("output") is not None:
        msgs.append({"role": "assistant", "content": str(record["output"])})
    return msgs
