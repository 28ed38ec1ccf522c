"""Resolve and load the base model: an HF directory, a GGUF file, or a ``models/<name>/`` directory.

A GGUF base is dequantized by transformers (``from_pretrained(dir, gguf_file=...)``, about a minute
for Gemma-3-270M) and the float HF directory is cached under
``~/.cache/legal-edge/hf/<sha256 of the GGUF>[:16]`` so later runs and the GGUF adapter converter
(which needs an HF directory for the base's hyper-parameters) reuse it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from legal_edge.fileio import sha256_file
from legal_edge.models.manifest import MANIFEST_NAME, ManifestError, ModelManifest
from recipes.shared.llamacpp_tools import cache_root


class BaseModelError(ValueError):
    """A base model that is missing or cannot be used; the message names the path."""


@dataclass(frozen=True)
class BaseModel:
    hf_dir: Path  # float HF checkpoint directory (config.json, weights, tokenizer)
    gguf: Path | None  # the GGUF the server loads the adapter over, when there is one
    gguf_sha256: str | None
    manifest: ModelManifest | None  # the base's own model manifest (chat template, stop, licence)


def resolve_base(spec: Path) -> BaseModel:
    """Turn ``base_model`` from the config into an HF directory (dequantizing a GGUF once)."""
    spec = Path(spec).expanduser()
    manifest = None
    if spec.is_dir() and (spec / MANIFEST_NAME).is_file():
        try:
            manifest = ModelManifest.read(spec)
        except ManifestError as exc:
            raise BaseModelError(str(exc)) from None
        if manifest.adapter_path is not None:
            raise BaseModelError(f"{spec}: base model already has an adapter; use its base")
        spec = manifest.model_path
        if not spec.is_file():
            raise BaseModelError(f"{spec}: base GGUF named by {manifest.directory} is missing")
    if spec.suffix == ".gguf":
        if not spec.is_file():
            raise BaseModelError(f"base model GGUF not found: {spec}")
        if manifest is None and (spec.parent / MANIFEST_NAME).is_file():
            m = ModelManifest.read(spec.parent)
            if m.path_of("model") == spec.resolve():
                manifest = m
        digest = sha256_file(spec)
        expected = manifest.file("model").sha256 if manifest and manifest.file("model") else None
        if expected and expected != digest:
            raise BaseModelError(
                f"{spec}: sha256 {digest[:12]}… does not match the "
                f"{expected[:12]}… recorded in {manifest.directory}/manifest.json"
            )
        return BaseModel(dequantized_dir(spec, digest), spec.resolve(), digest, manifest)
    if spec.is_dir():
        if not (spec / "config.json").is_file():
            raise BaseModelError(
                f"{spec}: not an HF model directory (no config.json) and no manifest.json"
            )
        return BaseModel(spec.resolve(), None, None, None)
    raise BaseModelError(
        f"base model not found: {spec} (expected an HF directory, a .gguf file "
        "or a models/<name>/ directory)"
    )


def dequantized_dir(gguf: Path, digest: str) -> Path:
    target = cache_root() / "hf" / digest[:16]
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dequant-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        keep_control_tokens(tok, gguf)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are plain floats now; drop the GGUF "quantizer" so they can be saved.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "legal_edge_source.json").write_text(
            json.dumps({"gguf": str(gguf), "sha256": digest}, indent=2), encoding="utf-8"
        )
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def gguf_control_tokens(gguf: Path) -> list[str]:
    """The GGUF vocabulary's control tokens (``<start_of_turn>``, ``<eos>``, …), in id order."""
    from gguf import GGUFReader, TokenType

    fields = GGUFReader(gguf).fields
    tokens, types = fields.get("tokenizer.ggml.tokens"), fields.get("tokenizer.ggml.token_type")
    if tokens is None or types is None:
        return []
    return [
        bytes(tokens.parts[i]).decode("utf-8", errors="replace")
        for i, j in zip(tokens.data, types.data, strict=True)
        if int(types.parts[j][0]) == TokenType.CONTROL
    ]


def keep_control_tokens(tok, gguf: Path) -> None:
    """Make every GGUF control token a special token of ``tok``, under its GGUF id.

    transformers up to at least 5.17 leaves Gemma's control tokens out when it converts a GGUF
    tokenizer (5.24 keeps them): ``<start_of_turn>`` is then split into bytes, and training
    stops at the chat-template check. Tokens already special are left alone.
    """
    from transformers import AddedToken

    known = {t.content for t in tok.added_tokens_decoder.values()}
    missing = [t for t in gguf_control_tokens(gguf) if t not in known]
    if missing:
        tok.add_tokens(
            [AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True
        )


def load_tokenizer(hf_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    hf_dir: Path, *, dtype: str = "float32", quantize_4bit: bool = False, device_map=None
):
    """The float base model (or 4-bit NF4 for QLoRA on CUDA)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": getattr(torch, dtype)}
    if quantize_4bit:
        if not torch.cuda.is_available():
            raise BaseModelError("qlora (4-bit base) needs a CUDA GPU; set qlora=false on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = device_map
    # eager attention: Gemma 3 recommends it for training, and it is what CPU runs anyway.
    model = AutoModelForCausalLM.from_pretrained(hf_dir, attn_implementation="eager", **kwargs)
    if quantize_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model
