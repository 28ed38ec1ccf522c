"""Shared test fixtures. Paths to real assets live here so every test finds them the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LEGAL_DATA = SHARED / "legal-data"
MODELS_DIR = REPO / "models"
DEFAULT_BASE_GGUF = MODELS_DIR / "gemma3-270m" / "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="session")
def legal_data() -> Path:
    if not LEGAL_DATA.is_dir():
        pytest.fail(f"real legal data not found at {LEGAL_DATA} (../shared/legal-data)")
    return LEGAL_DATA


@pytest.fixture(scope="session")
def default_base_gguf() -> Path:
    if not DEFAULT_BASE_GGUF.is_file():
        pytest.fail(f"default model missing: {DEFAULT_BASE_GGUF}; run ./install.sh")
    return DEFAULT_BASE_GGUF
