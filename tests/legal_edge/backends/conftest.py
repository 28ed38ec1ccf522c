"""The vLLM server, shared by the vLLM test modules of this package (one slow start), and stopped
once they are done rather than kept for the rest of the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.vllm_server import ensure_vllm_env, vllm_server


@pytest.fixture(scope="package")
def vllm_env() -> Path:
    return ensure_vllm_env()


@pytest.fixture(scope="package")
def vllm_url(vllm_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_server(vllm_env, tmp_path_factory.mktemp("vllm")) as url:
        yield url
