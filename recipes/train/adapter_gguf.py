"""PEFT adapter -> GGUF LoRA adapter that llama.cpp applies over the base GGUF at run time."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from recipes.llamacpp_tools import run_script


def convert_adapter(peft_dir: Path, base_hf_dir: Path, out: Path, outtype: str = "f16") -> Path:
    """Run llama.cpp's ``convert_lora_to_gguf.py``; the result replaces ``out`` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        run_script(
            "convert_lora_to_gguf.py",
            ["--base", str(base_hf_dir), "--outtype", outtype, "--outfile", tmp, str(peft_dir)],
        )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the adapter is a shipped file
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
