"""The chat page on the real llama.cpp backend (the tiny random-weight GGUF), with the server's
private default: feedback on, no conversation text kept."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.models.manifest import gguf_manifest
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.legal_edge.web.pages import ask, open_chat, stored, wait_answered

pytest.importorskip("llama_cpp")

from legal_edge.backends.llamacpp.backend import LlamaCppBackend  # noqa: E402


@pytest.fixture(scope="module")
def server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db = tmp_path_factory.mktemp("web-llama") / "feedback.sqlite"
    manifest = gguf_manifest(tiny_gguf)
    backend = LlamaCppBackend(manifest, BackendOptions(n_threads=1, n_parallel=2, n_ctx=1024))
    settings = Settings(model=str(tiny_gguf), n_ctx=1024, default_max_tokens=200, feedback_db=db)
    with live_server(create_app(settings, backend=backend)) as url:
        yield {"url": url, "db": db, "model": manifest.name}


@pytest.fixture
def page(browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    p = open_chat(browser, server["url"])
    yield p
    assert p.errors == [], p.errors
    p.context.close()


def streamed_text(body: str) -> tuple[str, str]:
    """(id, content) of an SSE body as the server sent it, parsed here independently."""
    content, rid = [], ""
    for line in body.splitlines():
        if line.startswith("data: {"):
            chunk = json.loads(line[6:])
            rid = chunk["id"]
            content += [c["delta"].get("content", "") for c in chunk["choices"]]
    return rid, "".join(content)


def test_the_page_shows_exactly_what_llama_cpp_streamed(page: Any, server: dict[str, Any]) -> None:
    assert page.locator("#model option").all_inner_texts() == [server["model"]]
    with page.expect_response("**/v1/chat/completions") as response:
        ask(page, "劳动合同可以随时解除吗？")
    wait_answered(page)
    rid, text = streamed_text(response.value.text())
    assert text.strip()
    answer = stored(page)[0]["messages"][1]
    assert answer["id"] == rid
    assert answer["content"] == text  # every delta, in order, none lost or doubled
    assert "error" not in answer and "stopped" not in answer


def test_feedback_without_kept_text_sends_only_the_rating(
    page: Any, server: dict[str, Any]
) -> None:
    notice = page.inner_text("#privacy")
    assert page.get_attribute("#privacy", "data-keeps") == "false"
    assert "不保存对话内容" in notice
    ask(page, "房屋租赁合同纠纷怎么处理？")
    wait_answered(page)
    assert page.locator(".correct").count() == 0  # no correction box: that is text
    page.click(".rate-down")
    page.wait_for_selector(".feedback-status:has-text('反馈已发送')")
    rid = stored(page)[0]["messages"][1]["id"]
    with sqlite3.connect(server["db"]) as db:
        feedback = db.execute(
            "SELECT rating, correction, comment FROM feedback WHERE response_id = ?", (rid,)
        ).fetchall()
        kept = db.execute("SELECT request, answer FROM responses WHERE id = ?", (rid,)).fetchall()
    assert feedback == [("down", None, None)]
    assert kept == [(None, None)]  # the server kept no text of the conversation
