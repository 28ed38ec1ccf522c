"""llama.cpp GPU offload (``n_gpu_layers``): the setting validates, reaches the model params the
engine loads with, is reported in the start log and /v1/models; ``auto`` puts nothing on a GPU
on a CPU build and, on a GPU build, the last layers that fit in free memory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar.testing import TestClient

from legal_edge.backends.llamacpp import offload
from legal_edge.backends.llamacpp.offload import GpuDevice, LayerSizes, layers_that_fit
from legal_edge.models.gguf_metadata import read_gguf_tensor_sizes
from legal_edge.server.app import create_app, load_runtime
from legal_edge.settings.loader import ConfigError
from legal_edge.settings.server import Settings, load_settings
from tests.fixtures.tiny_gguf import write_tiny_gguf
from tests.legal_edge.helpers import wait_ready

llama_cpp = pytest.importorskip("llama_cpp")

GIB = 1 << 30


@pytest.mark.parametrize(
    ("given", "kept"), [("auto", "auto"), (" AUTO", "auto"), ("0", "0"), (40, "40")]
)
def test_setting_accepts_auto_zero_and_counts(given: object, kept: str) -> None:
    settings = load_settings(None, {"n_gpu_layers": given}, environ={})
    assert offload.check_setting(settings.n_gpu_layers) == kept
    assert settings.backend_opts().n_gpu_layers == settings.n_gpu_layers


@pytest.mark.parametrize("bad", ["all", "-1", "1.5", ""])
def test_setting_rejects_other_values_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match="n_gpu_layers"):
        load_settings(None, {"n_gpu_layers": bad}, environ={})


def test_setting_from_env_and_yaml(tmp_path: Path) -> None:
    env = load_settings(None, environ={"LEGAL_EDGE_N_GPU_LAYERS": "12"})
    assert env.n_gpu_layers == "12"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_gpu_layers: 7\n")
    assert load_settings(cfg, environ={}).n_gpu_layers == "7"


def test_model_params_carry_the_layers() -> None:
    from legal_edge.backends.llamacpp.cpu_mode import model_params

    assert model_params(True, 7).n_gpu_layers == 7
    # a load that decided nothing stays on the CPU (llama.cpp's own default: every layer)
    assert model_params(True).n_gpu_layers == 0


def test_tensor_sizes_match_the_written_tensors(tmp_path: Path) -> None:
    from gguf import GGUFReader

    path = write_tiny_gguf(tmp_path / "t.gguf", arch="llama")
    sizes = read_gguf_tensor_sizes(path)
    tensors = GGUFReader(str(path)).tensors
    assert set(sizes) == {t.name for t in tensors}
    for t in tensors:  # the bytes of the data, plus up to 31 bytes of alignment padding
        assert int(t.n_bytes) <= sizes[t.name] < int(t.n_bytes) + 32, t.name


def test_auto_on_this_build(tiny_gguf: Path) -> None:
    placed = offload.decide("auto", tiny_gguf)
    assert placed.gpu_build == bool(llama_cpp.llama_supports_gpu_offload())
    assert placed.layers == 3  # 2 blocks + the output layer, llama.cpp's count
    if not placed.gpu_build:
        assert (placed.param, placed.gpu_layers) == (0, 0)
        assert "CPU build" in placed.reason
    elif placed.devices:  # a GPU build on a GPU host: the tiny model fits whole
        assert placed.param == placed.gpu_layers == 3


def test_auto_on_a_gpu_build_offloads_what_fits(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "t.gguf", arch="llama", n_layer=4)
    sizes = offload.layer_sizes(path, None, kv_tokens=1024)
    assert len(sizes.blocks) == 4 and min(sizes.blocks) > 0 and sizes.output > 0
    per_block = sizes.blocks[0] + sizes.kv_per_block
    big = (GpuDevice("CUDA0", "test GPU", 16 * GIB, 16 * GIB),)
    whole = offload.decide("auto", path, build=True, devices=big, kv_tokens=1024)
    assert (whole.param, whole.gpu_layers, whole.layers) == (5, 5, 5)
    assert "all fit" in whole.reason
    # room for two blocks beyond the reserve: the last two, not the output layer
    room = offload.RESERVE_BYTES + 2 * per_block + per_block // 2
    small = (GpuDevice("CUDA0", "test GPU", room, 16 * GIB),)
    part = offload.decide("auto", path, build=True, devices=small, kv_tokens=1024)
    assert (part.param, part.gpu_layers) == (2, 2)
    # no GPU device, or 0 asked: the CPU
    none = offload.decide("auto", path, build=True, devices=(), kv_tokens=1024)
    assert none.param == 0 and "no GPU" in none.reason
    assert offload.decide("0", path, build=True, devices=big).gpu_layers == 0
    # a number above the model's layers is all of them, as llama.cpp's -ngl
    many = offload.decide("99", path, build=True, devices=big)
    assert (many.param, many.gpu_layers) == (99, 5)


def test_fit_counts_kv_cache_and_output_layer() -> None:
    sizes = LayerSizes(blocks=(100, 100, 100), kv_per_block=50, output=80)
    assert layers_that_fit(sizes, 1000, reserve=0) == 4  # 3 x 150 + 80
    assert layers_that_fit(sizes, 449, reserve=0) == 2
    assert layers_that_fit(sizes, 450, reserve=0) == 3  # the output layer does not fit
    assert layers_that_fit(sizes, 10_000, reserve=10_000) == 0


def test_served_offload_reaches_the_engine_and_is_reported(tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "tiny.gguf", arch="llama")
    settings = Settings(
        model=str(model), n_gpu_layers="2", cpu_repack="off", n_threads=1, n_parallel=1, n_ctx=256
    )
    # Litestar's logging setup replaces the root handlers: listen on the backend's logger
    logger = logging.getLogger("legal_edge.backends.llamacpp.backend")
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        with TestClient(create_app(settings, runtimes=[load_runtime(settings)])) as c:
            wait_ready(c)
            card = c.get("/v1/models").json()["data"][0]
    finally:
        logger.removeHandler(handler)
    placed = card["metadata"]["offload"]
    assert placed["param"] == 2  # read back from the params llama.cpp loaded the model with
    assert placed["setting"] == "2" and placed["layers"] == 3
    assert placed["gpu_build"] is bool(llama_cpp.llama_supports_gpu_offload())
    if not placed["gpu_build"]:
        assert placed["gpu_layers"] == 0 and "CPU build" in placed["reason"]
    elif placed["devices"]:  # a CUDA build on a GPU host (deploy/gpu_check.sh): 2 on the GPU
        assert placed["gpu_layers"] == 2
    assert [line for line in lines if line.startswith("llama.cpp offload:")]
