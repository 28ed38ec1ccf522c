"""Write a Hugging Face model directory for vLLM from a legal-edge GGUF model directory.

    .venv-vllm/bin/python deploy/vllm/gguf_to_hf.py models/gemma3-270m models/gemma3-270m-hf

transformers dequantizes the GGUF weights to floats (about a minute for Gemma-3-270M); the
result is saved as safetensors with its tokenizer, and a legal-edge ``manifest.json`` whose file
has role ``hf`` and which keeps the source manifest's chat template, stop strings and licence.
A LoRA adapter GGUF is not merged: serve adapters with the llama.cpp backend. Re-running with an
existing complete output does nothing. Runs in the vLLM environment (``./install.sh --vllm``),
never imported by ``legal_edge``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path


def convert(src: Path, dest: Path) -> Path:
    from legal_edge.models.manifest import MANIFEST_NAME, ModelFile, ModelManifest

    manifest = ModelManifest.read(src)
    if manifest.adapter_path is not None:
        raise SystemExit(f"{src}: has a LoRA adapter; vLLM needs a merged model (export one)")
    gguf = manifest.model_path
    if (dest / MANIFEST_NAME).is_file():
        print(f"{dest} exists; nothing to do")
        return dest
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.monotonic()
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"dequantizing {gguf} (about a minute) ...", flush=True)
    from legal_edge.models.gguf_metadata import read_gguf_metadata

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers does not carry the GGUF's add_bos_token over; without BOS, Gemma only
    # repeats itself (llama.cpp adds it, so must the HF tokenizer).
    add_bos = bool(read_gguf_metadata(gguf).get("tokenizer.ggml.add_bos_token", False))
    tokenizer.add_bos_token = add_bos
    if add_bos and tokenizer("x")["input_ids"][0] != tokenizer.bos_token_id:
        raise SystemExit(f"{gguf}: could not make the tokenizer add BOS")
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The weights are plain floats now; the GGUF loader's quantizer and quantization_config
    # would make save_pretrained refuse and vLLM try to re-quantize.
    model.hf_quantizer = None
    for cfg in (model.config, getattr(model.config, "text_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    hf = ModelManifest(
        name=dest.name,
        base_model=manifest.base_model,
        files=[ModelFile(role="hf", path=".")],
        chat_template=manifest.chat_template,
        stop=list(manifest.stop),
        context_length=manifest.context_length,
        quantization="bf16",
        license=manifest.license,
        description=f"{manifest.name} dequantized from {gguf.name} for vLLM",
        stage="export",
        extra={"source": str(gguf), "source_sha256": manifest.file("model").sha256},
    )
    for name in ("NOTICE.md", "GEMMA_TERMS.html"):  # licence files travel with the weights
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    if manifest.license_file and (src / manifest.license_file).is_file():
        hf.license_file = manifest.license_file
        shutil.copy2(src / manifest.license_file, tmp / manifest.license_file)
    hf.write(tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"wrote {dest} in {time.monotonic() - t0:.0f} s")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="legal-edge model directory with a GGUF")
    parser.add_argument("dest", type=Path, help="output HF directory (a legal-edge model dir)")
    args = parser.parse_args(argv)
    convert(args.source.resolve(), args.dest.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
