"""Read a GGUF file's key/value metadata (not its tensors) without loading the model.

Large arrays (the vocabulary) are skipped, not materialised: only their length is kept.
Not ``gguf.GGUFReader`` (gguf is a runtime dependency already): it builds numpy views of every
vocabulary string, 53 s on the base model's 262,144 tokens against 1.6 s here (2026-12-07,
shared 2-core box), and the server and the CPU-mode probe read a header at every start.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


class GGUFError(ValueError):
    pass


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    buf = fh.read(size)
    if len(buf) != size:
        raise GGUFError("truncated GGUF header")
    return struct.unpack(fmt, buf)[0]


def _read_str(fh: BinaryIO) -> str:
    n = _read(fh, "<Q")
    return fh.read(n).decode("utf-8", errors="replace")


def _read_value(fh: BinaryIO, vtype: int, keep_arrays: int) -> Any:
    if vtype in _SCALARS:
        return _read(fh, _SCALARS[vtype])
    if vtype == _STRING:
        return _read_str(fh)
    if vtype == _ARRAY:
        itype = _read(fh, "<I")
        n = _read(fh, "<Q")
        if n > keep_arrays and itype in _SCALARS:
            fh.seek(n * struct.calcsize(_SCALARS[itype]), 1)
            return {"array_length": n}
        items = [_read_value(fh, itype, keep_arrays) for _ in range(n)]
        return items if n <= keep_arrays else {"array_length": n}
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: Path | str, keep_arrays: int = 64) -> dict[str, Any]:
    """All metadata keys of a GGUF file; adds ``context_length`` and ``file_type_name``."""
    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise GGUFError(f"{path}: not a GGUF file (bad magic)")
        version = _read(fh, "<I")
        _n_tensors = _read(fh, "<Q")
        n_kv = _read(fh, "<Q")
        meta: dict[str, Any] = {"gguf.version": version}
        for _ in range(n_kv):
            key = _read_str(fh)
            vtype = _read(fh, "<I")
            meta[key] = _read_value(fh, vtype, keep_arrays)
    arch = meta.get("general.architecture", "")
    if f"{arch}.context_length" in meta:
        meta["context_length"] = meta[f"{arch}.context_length"]
    ft = meta.get("general.file_type")
    if isinstance(ft, int):
        meta["file_type_name"] = FILE_TYPES.get(ft, str(ft))
    return meta


# ggml tensor type ids (ggml.h) of the types GGUF files commonly hold; others print as numbers.
GGML_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    6: "Q5_0",
    7: "Q5_1",
    8: "Q8_0",
    9: "Q8_1",
    10: "Q2_K",
    11: "Q3_K",
    12: "Q4_K",
    13: "Q5_K",
    14: "Q6_K",
    15: "Q8_K",
    16: "IQ2_XXS",
    17: "IQ2_XS",
    18: "IQ3_XXS",
    19: "IQ1_S",
    20: "IQ4_NL",
    21: "IQ3_S",
    22: "IQ2_S",
    23: "IQ4_XS",
    24: "I8",
    25: "I16",
    26: "I32",
    27: "I64",
    28: "F64",
    29: "IQ1_M",
    30: "BF16",
}


def _tensor_table(path: Path) -> tuple[list[tuple[str, int, int]], int]:
    """The header's tensor table, (name, ggml type, data offset) each, and where the tensor data
    starts in the file (after the header, aligned)."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise GGUFError(f"{path}: not a GGUF file (bad magic)")
        _read(fh, "<I")
        n_tensors = _read(fh, "<Q")
        n_kv = _read(fh, "<Q")
        alignment = 32
        for _ in range(n_kv):
            key = _read_str(fh)
            value = _read_value(fh, _read(fh, "<I"), keep_arrays=0)
            if key == "general.alignment" and isinstance(value, int) and value > 0:
                alignment = value
        table = []
        for _ in range(n_tensors):
            name = _read_str(fh)
            n_dims = _read(fh, "<I")
            fh.seek(8 * n_dims, 1)
            ggml_type = _read(fh, "<I")
            table.append((name, ggml_type, _read(fh, "<Q")))
        return table, -(-fh.tell() // alignment) * alignment


def read_gguf_tensor_types(path: Path | str) -> dict[str, str]:
    """Each tensor's name -> its type name (``Q4_K``, ``F16``...), from the header only."""
    table, _ = _tensor_table(Path(path))
    return {name: GGML_TYPES.get(ggml_type, str(ggml_type)) for name, ggml_type, _ in table}


def read_gguf_tensor_sizes(path: Path | str) -> dict[str, int]:
    """Each tensor's name -> its bytes in the file (the distance to the next tensor's data,
    alignment padding included), from the header only."""
    path = Path(path)
    table, data_start = _tensor_table(path)
    end = path.stat().st_size - data_start
    offsets = sorted((off, name) for name, _, off in table)
    if offsets and not 0 <= offsets[-1][0] <= end:
        raise GGUFError(f"{path}: tensor data past the end of the file (truncated or corrupt)")
    ends = [off for off, _ in offsets[1:]] + [end]
    return {name: nxt - off for (off, name), nxt in zip(offsets, ends, strict=False)}
