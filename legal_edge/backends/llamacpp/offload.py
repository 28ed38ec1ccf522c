"""How many of a model's layers llama.cpp puts on a GPU (``n_gpu_layers``).

llama.cpp counts a model of ``n_layer`` blocks as ``n_layer + 1`` offloadable layers (the
blocks, then the output layer) and offloads the *last* ``n_gpu_layers`` of them; the input
embeddings always stay in host memory. Its own log says "offloaded 19/19 layers to GPU" for
Gemma-3-270M's 18 blocks, and this module reports the same two numbers.

The setting ``n_gpu_layers``:

- ``auto`` (the default): on a CPU build of llama.cpp, 0. On a GPU build, every layer that fits
  in the GPUs' free memory, counted from the last block backwards as llama.cpp places them: each
  block's weights (its tensors' sizes in the GGUF) plus its KV cache for all the server's
  sequences, after a reserve for llama.cpp's compute buffers. A model that fits goes whole.
- ``0``: the CPU only, whatever the build.
- ``N``: N layers, as llama.cpp's ``-ngl N`` (more than the model has means all of them).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from legal_edge.models.gguf_metadata import GGUFError, read_gguf_metadata, read_gguf_tensor_sizes

log = logging.getLogger("legal_edge.llama")

# Kept free on the GPU for llama.cpp's compute buffers (graph activations, a prompt batch of 512
# tokens) and the CUDA context: a 7B model's compute buffer is ~0.3-0.5 GB at n_batch 512.
RESERVE_BYTES = 1 << 30
KV_BYTES = 2  # llama.cpp's KV cache is F16 by default


@dataclass(frozen=True)
class GpuDevice:
    name: str
    description: str
    free: int
    total: int


@dataclass(frozen=True)
class Offload:
    """What the backend asks llama.cpp for, and what it reports about it."""

    setting: str  # the setting as given: "auto" or a number
    param: int  # what goes into llama_model_params.n_gpu_layers
    gpu_layers: int  # layers on a GPU (0 on a CPU build, whatever param says)
    layers: int  # the model's offloadable layers (blocks + output); 0 if unknown
    gpu_build: bool  # llama.cpp was built with a GPU backend (llama_supports_gpu_offload)
    devices: tuple[GpuDevice, ...]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["devices"] = [asdict(dev) for dev in self.devices]
        return d

    def describe(self) -> str:
        if self.gpu_layers == 0:
            return f"llama.cpp offload: none, the model runs on the CPU ({self.reason})"
        names = ", ".join(f"{d.name} {d.description}".strip() for d in self.devices) or "GPU"
        return (
            f"llama.cpp offload: {self.gpu_layers}/{self.layers or '?'} layers on {names} "
            f"({self.reason})"
        )


def check_setting(value: str) -> str:
    """``value`` normalised (``auto`` or a non-negative integer as text); ``ValueError`` naming
    the setting otherwise."""
    text = str(value).strip().lower()
    if text == "auto":
        return text
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise ValueError(
            f"n_gpu_layers: {value!r} must be auto, 0 (CPU only) or a number of layers"
        )
    return str(number)


@functools.lru_cache(maxsize=1)
def gpu_build() -> bool:
    """Whether this llama.cpp was built with a GPU backend (CUDA, Vulkan, Metal...)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def gpu_devices() -> tuple[GpuDevice, ...]:
    """The GPUs llama.cpp sees, with their free and total memory (ggml's device list)."""
    import llama_cpp
    from llama_cpp._ggml import libggml

    llama_cpp.llama_backend_init()
    lib = libggml
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_dev_get.restype = ctypes.c_void_p
    lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_type.restype = ctypes.c_int
    for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_char_p
    lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_size_t)] * 2
    devices = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        if lib.ggml_backend_dev_type(dev) != 1:  # GGML_BACKEND_DEVICE_TYPE_GPU
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.append(
            GpuDevice(
                name=(lib.ggml_backend_dev_name(dev) or b"").decode(errors="replace"),
                description=(lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace"),
                free=int(free.value),
                total=int(total.value),
            )
        )
    return tuple(devices)


@dataclass(frozen=True)
class LayerSizes:
    """Bytes per block (weights, KV cache of all sequences) and of the output layer."""

    blocks: tuple[int, ...]
    kv_per_block: int
    output: int


def layer_sizes(model_path: Path, adapter_path: Path | None, kv_tokens: int) -> LayerSizes:
    """Sizes from the GGUF header: each ``blk.N.*`` tensor counted in block N, the output
    layer's tensors (or the tied embeddings llama.cpp copies there) in ``output``; a LoRA
    adapter's tensors added to their blocks. ``kv_tokens``: cache cells of all sequences."""
    meta = read_gguf_metadata(model_path)
    arch = meta.get("general.architecture", "")
    n_layer = int(meta.get(f"{arch}.block_count") or 0)
    blocks = [0] * n_layer
    output = 0
    files = [model_path] + ([adapter_path] if adapter_path is not None else [])
    tied = True
    for path in files:
        for name, size in read_gguf_tensor_sizes(path).items():
            parts = name.split(".")
            if parts[0] == "blk" and len(parts) > 1 and parts[1].isdigit():
                if int(parts[1]) < n_layer:
                    blocks[int(parts[1])] += size
            elif name.startswith(("output.", "output_norm.")):
                output += size
                tied = tied and not name.startswith("output.")
    if tied:  # no output.weight: the token embeddings double as the output projection
        output += read_gguf_tensor_sizes(model_path).get("token_embd.weight", 0)

    def per_layer(key: str) -> int:
        value = meta.get(f"{arch}.{key}")
        if isinstance(value, list):
            return max((int(v) for v in value), default=0)
        return int(value or 0)

    n_head = per_layer("attention.head_count")
    n_head_kv = per_layer("attention.head_count_kv") or n_head
    n_embd = per_layer("embedding_length")
    head_dim = n_embd // n_head if n_head else 0
    k_len = per_layer("attention.key_length") or head_dim
    v_len = per_layer("attention.value_length") or head_dim
    kv = kv_tokens * n_head_kv * (k_len + v_len) * KV_BYTES
    return LayerSizes(tuple(blocks), kv, output)


def layers_that_fit(sizes: LayerSizes, free_bytes: int, reserve: int = RESERVE_BYTES) -> int:
    """How many of the last layers fit in ``free_bytes`` (llama.cpp's count: output = 1 more)."""
    budget = free_bytes - reserve
    count = 0
    for block in reversed(sizes.blocks):
        need = block + sizes.kv_per_block
        if need > budget:
            return count
        budget -= need
        count += 1
    return count + (1 if sizes.output <= budget else 0)


def decide(
    setting: str,
    model_path: Path | str,
    adapter_path: Path | str | None = None,
    *,
    kv_tokens: int = 0,
    build: bool | None = None,
    devices: tuple[GpuDevice, ...] | None = None,
) -> Offload:
    """The offload for ``model_path`` under ``setting`` on this host (``build`` and
    ``devices`` default to what llama.cpp reports here)."""
    setting = check_setting(setting)
    build = gpu_build() if build is None else build
    if devices is None:
        devices = gpu_devices() if build else ()
    model_path = Path(model_path)
    adapter = Path(adapter_path) if adapter_path is not None else None
    try:
        sizes: LayerSizes | None = layer_sizes(model_path, adapter, kv_tokens)
    except (OSError, GGUFError, ValueError) as exc:  # a broken file fails its load, not here
        log.debug("cannot read layer sizes of %s: %s", model_path, exc)
        sizes = None
    n_layers = len(sizes.blocks) + 1 if sizes is not None and sizes.blocks else 0

    def result(param: int, on_gpu: int, reason: str) -> Offload:
        return Offload(setting, param, on_gpu, n_layers, build, devices, reason)

    if setting != "auto":
        asked = int(setting)
        if not build:
            return result(asked, 0, f"n_gpu_layers {asked}, but this llama.cpp is a CPU build")
        if not devices:
            return result(asked, 0, f"n_gpu_layers {asked}, but llama.cpp sees no GPU")
        on_gpu = min(asked, n_layers) if n_layers else asked
        return result(asked, on_gpu, f"n_gpu_layers {asked} (set)")
    if not build:
        return result(0, 0, "n_gpu_layers auto: this llama.cpp is a CPU build")
    if not devices:
        return result(0, 0, "n_gpu_layers auto: llama.cpp sees no GPU")
    free = sum(d.free for d in devices)
    if sizes is None or not n_layers:
        return result(-1, n_layers, "n_gpu_layers auto: layer sizes unknown, offloading all")
    fit = layers_that_fit(sizes, free)
    how = "all fit" if fit == n_layers else f"{fit} of {n_layers} fit"
    return result(fit, fit, f"n_gpu_layers auto: {how} in {free / 2**30:.1f} GiB free")
