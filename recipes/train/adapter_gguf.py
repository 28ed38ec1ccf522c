"""PEFT adapter -> GGUF LoRA adapter that llama.cpp applies over the base GGUF at run time."""

from __future__ import annotations

from pathlib import Path

from legal_edge.fileio import replaced_atomically
from recipes.shared.llamacpp_tools import run_script


def convert_adapter(peft_dir: Path, base_hf_dir: Path, out: Path, outtype: str = "f16") -> Path:
    """Run llama.cpp's ``convert_lora_to_gguf.py``; the result replaces ``out`` atomically."""
    with replaced_atomically(out) as tmp:
        run_script(
            "convert_lora_to_gguf.py",
            [
                "--base",
                str(base_hf_dir),
                "--outtype",
                outtype,
                "--outfile",
                str(tmp),
                str(peft_dir),
            ],
        )
    return out
