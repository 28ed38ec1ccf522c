"""Merge through transformers: HF base + PEFT -> ``merge_and_unload`` -> llama.cpp's
``convert_hf_to_gguf.py`` -> float GGUF stamped with the manifest's chat template and end-of-turn.

The route for bases that exist as HF checkpoints. (A GGUF-only base is merged into its own
tensors instead, see ``merge.py``: converting its dequantized HF twin back re-derives the
tokenizer from ``tokenizer.json``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def merged_hf_dir(hf_dir: Path, peft_dir: Path | None, target: Path, chat_template: str) -> Path:
    """The merged model as an HF checkpoint at ``target`` (written once, reused after)."""
    import shutil
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (target / "config.json").is_file():
        return target
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    if peft_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(peft_dir)).merge_and_unload()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok = AutoTokenizer.from_pretrained(hf_dir)
        tok.chat_template = chat_template
        tok.save_pretrained(tmp)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def merge_via_hf(
    hf_dir: Path,
    peft_dir: Path | None,
    out: Path,
    work: Path,
    *,
    outtype: str,
    chat_template: str,
    stop: list[str],
    name: str | None,
) -> dict[str, Any]:
    """Write the float GGUF ``out`` from the HF base and the adapter with llama.cpp's converter."""
    from legal_edge.fileio import replaced_atomically
    from recipes.export.merge import merge_into_gguf
    from recipes.shared.llamacpp_tools import run_script

    merged = merged_hf_dir(hf_dir, peft_dir, work / "merged-hf", chat_template)
    converted = work / f"converted-{outtype}.gguf"
    with replaced_atomically(converted) as tmp:
        run_script(
            "convert_hf_to_gguf.py", [str(merged), "--outtype", outtype, "--outfile", str(tmp)]
        )
    # the converter takes template and stop tokens from tokenizer files, which may name a
    # different end of turn: stamp the manifest's own (tensors are copied unchanged)
    info = merge_into_gguf(
        converted, None, out, outtype=outtype, chat_template=chat_template, stop=stop, name=name
    )
    converted.unlink()
    return {**info, "method": "hf", "merged_hf_dir": str(merged), "base_gguf": None}
