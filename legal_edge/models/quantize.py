"""Quantize a float GGUF with llama.cpp's own quantizer (``llama_model_quantize``)."""

from __future__ import annotations

from pathlib import Path

from legal_edge.fileio import captured_stderr, replaced_atomically


class QuantizeError(RuntimeError):
    """llama.cpp refused to quantize; the message names the file and type."""


def ftype_of(name: str) -> int:
    """llama.cpp's file type number for a name like ``Q4_K_M`` (any case)."""
    import llama_cpp

    value = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name.upper()}", None)
    if value is None:
        known = sorted(
            n.removeprefix("LLAMA_FTYPE_MOSTLY_")
            for n in dir(llama_cpp)
            if n.startswith("LLAMA_FTYPE_MOSTLY_")
        )
        raise QuantizeError(f"unknown quantization {name!r}; llama.cpp knows {', '.join(known)}")
    return int(value)


def quantize_gguf(src: Path, out: Path, qtype: str, *, threads: int = 0) -> Path:
    """Write ``out`` = ``src`` quantized to ``qtype``; metadata (chat template, eot) is kept.

    Tensors whose rows are too short for a block type fall back to a type that fits, as
    ``llama-quantize`` does (tiny test models end up partly Q8_0/Q5_0).
    """
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype_of(qtype)
    params.nthread = threads
    with replaced_atomically(out) as tmp:
        with captured_stderr() as report:
            # llama.cpp writes a line per tensor to stderr: kept for an error message only
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
            tail = " / ".join(report().strip().splitlines()[-3:]) if rc != 0 else ""
        if rc != 0:
            raise QuantizeError(
                f"llama_model_quantize {src} -> {qtype} failed with code {rc}: {tail}"
            )
    return out
