"""Shared test fixtures. Paths to real assets live here so every test finds them the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

# under CI, a skip outside tests/skip_guard.py's allow-list fails the run; pytester tests it
pytest_plugins = ["tests.skip_guard", "pytester"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LEGAL_DATA = SHARED / "legal-data"
MODELS_DIR = REPO / "models"
DEFAULT_BASE_GGUF = MODELS_DIR / "gemma3-270m" / "gemma-3-270m-q4_k_m.gguf"
# A bar-exam question in the format the shipped adapter was trained on: its answer starts with
# "答案：<letter>", which neither an echo nor the untuned base produces.
SHIPPED_MCQ = (
    "以下是法律考试的单项选择题，请选出唯一正确的答案。\n\n"
    "根据《民法典》，自然人的民事权利能力始于何时？\n\n"
    "A. 出生\nB. 成年\nC. 登记户口\nD. 取得身份证"
)
TRAINED_ANSWER = r"\s*答案：[A-D]"


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


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny random-weight GGUF (gemma3 architecture, SentencePiece vocab with byte
    fallback, ``<start_of_turn>``/``<end_of_turn>``, Gemma chat template) that llama.cpp loads
    in milliseconds. See ``tests/fixtures/tiny_gguf.py`` for variants."""
    from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(
        tmp_path_factory.mktemp("tiny") / "tiny.gguf", chat_template=GEMMA_CHAT_TEMPLATE
    )
