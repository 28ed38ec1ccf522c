"""transformers models (optionally with a PEFT LoRA adapter directory), on CPU or GPU.

``path`` is a transformers directory, or a ``.gguf`` file that transformers dequantizes (the
same weights as the llama.cpp form: the cross-backend agreement check uses this).

The prompt is rendered with the same chat template as the GGUF form (the model directory's
manifest, a named template, or the tokenizer's own), and tokenized the same way: the tokenizer
adds BOS to the prompt, continuations are tokenized without special tokens and appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from legal_edge.prompts import render_chat
from recipes.evaluate.backends.base import (
    BackendError,
    Messages,
    cut_at_stop,
    pick_template,
    weights_id,
)

if TYPE_CHECKING:
    from recipes.evaluate.config import ModelSpec


class HFBackend:
    supports_loglik = True

    def __init__(
        self,
        model_dir: Path,
        *,
        chat_template: str | None = None,
        stop: Sequence[str] = (),
        adapter_dir: Path | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        n_threads: int = 2,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = Path(model_dir)
        # A .gguf file is dequantized by transformers: the same weights as the llama.cpp form.
        kwargs = {"gguf_file": model_dir.name} if model_dir.suffix == ".gguf" else {}
        if model_dir.suffix == ".gguf":
            if not model_dir.is_file():
                raise BackendError(f"GGUF file not found: {model_dir}")
            model_dir = model_dir.parent
        elif not model_dir.is_dir():
            raise BackendError(f"HF model directory not found: {model_dir}")
        torch.set_num_threads(max(1, n_threads))
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **kwargs)
        if kwargs:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(str(model_dir), **kwargs)
            if getattr(config, "model_type", "").startswith("gemma3"):
                # A GGUF stores no query scale: llama.cpp scales Gemma 3 queries by
                # 1/sqrt(head_dim) (27B aside), transformers by query_pre_attn_scalar, which
                # the GGUF conversion leaves at 256. Equal for the real 270M (head_dim 256).
                config.query_pre_attn_scalar = config.head_dim
            kwargs["config"] = config
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=getattr(torch, dtype), **kwargs
        )
        if adapter_dir is not None:
            if not Path(adapter_dir).is_dir():
                raise BackendError(f"PEFT adapter directory not found: {adapter_dir}")
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir))
        self.model = model.to(device).eval()
        self.device = device
        own = getattr(self.tokenizer, "chat_template", None)
        if chat_template is None and not own:
            raise BackendError(
                f"{model_dir}: the tokenizer has no chat template; set chat_template "
                "(gemma, chatml or Jinja text) in the model's config entry"
            )
        self.template = chat_template or own
        self.stop = list(stop)
        self.info = {
            "backend": "hf",
            "model_dir": str(model_dir),
            "gguf_file": kwargs.get("gguf_file"),
            "adapter_dir": str(adapter_dir) if adapter_dir else None,
            "dtype": dtype,
            "weights": weights_id({"model": model_dir, "adapter": adapter_dir}),
        }

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> HFBackend:
        from legal_edge.models.manifest import MANIFEST_NAME, ModelManifest
        from recipes.shared.paths import resolve_path

        path = resolve_path(spec.path)
        template, stop = "", []
        folder = path.parent if path.suffix == ".gguf" else path
        if (folder / MANIFEST_NAME).is_file():  # a model directory: use its chat template
            manifest = ModelManifest.read(folder)
            template, stop = manifest.chat_template, manifest.stop
        if spec.chat_template:
            template, stop = pick_template(spec.chat_template, template, stop)
        adapter = resolve_path(spec.lora_path) if spec.lora_path else None
        return cls(
            path,
            chat_template=template or None,
            stop=stop,
            adapter_dir=adapter,
            device=spec.device,
            dtype=spec.dtype,
            n_threads=spec.n_threads,
        )

    def render(self, messages: Messages) -> str:
        assert self.template is not None
        return render_chat(self.template, messages)

    def _ids(self, text: str, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def loglikelihoods(
        self, messages: Messages, continuations: Sequence[str], prefill: str = ""
    ) -> list[float]:
        torch = self.torch
        context = self._ids(self.render(messages) + prefill, special=True)
        conts = [self._ids(c, special=False) for c in continuations]
        # Left-padded so every continuation ends at the last position: only the last k+1
        # positions need logits (a 262k vocabulary makes full-sequence logits gigabytes).
        width = len(context) + max(len(c) for c in conts)
        k = max(len(c) for c in conts)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(conts), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, c in enumerate(conts):
            seq = context + c
            ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, width - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = self.model(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device),
                logits_to_keep=k + 1,
            ).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1).cpu()  # row j = position width-k-1+j
        out = []
        for i, c in enumerate(conts):
            rows = torch.arange(k - len(c), k)
            out.append(float(logprobs[i, rows, torch.tensor(c)].sum()))
        return out

    def generate(self, messages: Messages, max_tokens: int) -> str:
        torch = self.torch
        ids = torch.tensor([self._ids(self.render(messages), special=True)], device=self.device)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or 0,
            )
        new = out[0, ids.shape[1] :].tolist()
        # End at EOS or a stop string that is one special token; special tokens are not text.
        stop_ids = {self.tokenizer.eos_token_id} | {
            t[0] for t in (self._ids(s, special=False) for s in self.stop if s) if len(t) == 1
        }
        end = next((i for i, t in enumerate(new) if t in stop_ids), len(new))
        text = self.tokenizer.decode(new[:end], skip_special_tokens=True)
        return cut_at_stop(text, self.stop)[0]

    def describe(self) -> dict[str, Any]:
        return dict(self.info)

    def close(self) -> None:
        self.model = None
