"""The sources panel in a real Chromium against a real grounded server: the echo backend over
the small real statute index (tests/fixtures/statute_index.py). The echo "model" repeats the
question it was given, which the server rewrote with the retrieved articles, so its answer cites
real articles, and the invented one the question names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.server.generation import ModelRuntime
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.fixtures.statute_index import small_statute_index  # noqa: F401
from tests.legal_edge.helpers import echo_manifest
from tests.legal_edge.web.pages import ask, last_answer, open_chat, stored, wait_answered

pytestmark = pytest.mark.slow  # builds the small index

MODEL = "echo-legal"
QUESTION = "刑法第二百六十四条和《刑法》第九百九十九条分别规定了什么？"


@pytest.fixture(scope="module")
def url(small_statute_index: Path) -> Iterator[str]:  # noqa: F811
    m = echo_manifest(MODEL, ctx=4096)
    m.statutes_index = str(small_statute_index)
    rt = ModelRuntime(name=MODEL, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=4096)))
    settings = Settings(backend="echo", grounding_min_score=1.0)
    with live_server(create_app(settings, runtimes=[rt])) as base:
        yield base


def test_sources_panel_shows_the_citations_links_and_marks(browser: Any, url: str) -> None:
    want = httpx.post(
        url + "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]},
        timeout=30,
    ).json()["citations"]
    page = open_chat(browser, url)
    try:
        ask(page, QUESTION)
        wait_answered(page)
        # the answer as streamed: the invented article marked in the text itself (the link
        # adds a ⚠ on screen)
        assert (
            "《刑法》第九百九十九条〔未核实：该法没有这一条〕"
            in stored(page)[0]["messages"][1]["content"]
        )
        assert "《刑法》第九百九十九条 ⚠〔未核实：该法没有这一条〕" in last_answer(page)
        # the panel lists what the response's citations list holds, in order
        items = page.locator("#sources-list li.source")
        assert items.count() == len(want) and page.locator("#sources-empty").is_hidden()
        first = items.nth(0)
        assert first.locator("h3").inner_text() == "《中华人民共和国刑法》第二百六十四条"
        assert first.locator("blockquote").inner_text() == want[0]["text"]
        meta = first.locator(".meta").inner_text()
        assert f"版本日期: {want[0]['version_date']}" in meta and "现行有效" in meta
        # given, and restated word for word (the echo repeats the 参考法条 block): supported
        assert "✓ 回答的转述与本条原文相符" in first.inner_text()
        # the invented article: marked in the panel with the server's reason
        bad = page.locator("#sources-list li.source.unverified")
        assert bad.count() == 1
        assert "⚠ 未核实" in bad.inner_text() and "has no article 999" in bad.inner_text()
        # citations in the answer are links to their entries, placed by the server's offsets
        # (the bare 刑法第二百六十四条 too, which the page never parsed), each with its verdict
        body = page.locator(".msg.assistant .body").last
        links = body.locator("a.cite")
        n_mentions = sum(len(c["mentions"]) for c in want)
        assert links.count() == n_mentions
        bare = body.locator("a.cite.named", has_text="刑法第二百六十四条")
        assert bare.count() == 1 and bare.inner_text() == "刑法第二百六十四条"
        assert bare.get_attribute("title") == want[0]["text"]  # the article's text beside it
        link = body.locator("a.cite.supported").first
        target = link.get_attribute("href")
        assert target is not None and target.startswith("#src-")
        link.click()
        assert page.evaluate("document.activeElement.id") == target[1:]
        marked = body.locator("a.cite.unverified")
        assert marked.count() == 1 and "《刑法》第九百九十九条" in marked.inner_text()
        assert "⚠" in marked.inner_text()
        marked.click()
        assert page.evaluate("document.activeElement.className").startswith("source unverified")
        # the sources survive a reload (kept with the conversation in the browser)
        page.reload()
        page.wait_for_selector("body[data-ready]", state="attached")
        assert page.locator("#sources-list li.source").count() == len(want)
        assert page.errors == [], page.errors
    finally:
        page.context.close()


# 第三百三十四条's words under the drunk-driving article's number: the server corrects it
DRUNK = (
    "根据《中华人民共和国刑法》第一百三十三条之一规定，非法采集、供应血液或者制作、供应血液制品，"
    "不符合国家规定的标准，足以危害人体健康的，处五年以下有期徒刑。这样说对吗？"
)


def test_a_corrected_citation_says_so(
    browser: Any,
    small_statute_index: Path,  # noqa: F811
) -> None:
    m = echo_manifest(MODEL, ctx=4096)
    m.statutes_index = str(small_statute_index)
    rt = ModelRuntime(name=MODEL, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=4096)))
    settings = Settings(backend="echo", grounding_min_score=1.0, grounding_k=5)
    with live_server(create_app(settings, runtimes=[rt])) as base:
        page = open_chat(browser, base)
        try:
            ask(page, DRUNK)
            wait_answered(page)
            body = page.locator(".msg.assistant .body").last
            fixed = body.locator("a.cite.corrected")
            assert fixed.count() == 1
            assert fixed.inner_text() == "《中华人民共和国刑法》第三百三十四条 ✎"
            tip = fixed.get_attribute("title") or ""
            assert tip.startswith("条号已更正，原写作“《中华人民共和国刑法》第一百三十三条之一”")
            entry = page.locator("#sources-list li.source", has=page.locator(".corrected"))
            assert entry.count() == 1
            assert "第三百三十四条" in entry.locator("h3").inner_text()
            assert "回答原写作“《中华人民共和国刑法》第一百三十三条之一”" in entry.inner_text()
            assert page.errors == [], page.errors
        finally:
            page.context.close()


def test_a_model_answering_without_the_books_is_named_on_the_page(
    browser: Any,
    small_statute_index: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    def runtime(name: str, index: Path) -> ModelRuntime:
        m = echo_manifest(name, ctx=4096)
        m.statutes_index = str(index)
        return ModelRuntime(
            name=name, manifest=m, backend=EchoBackend(m, BackendOptions(n_ctx=4096))
        )

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "index.sqlite3").write_bytes(b"not an index" * 100)
    runtimes = [runtime(MODEL, small_statute_index), runtime("echo-unbooked", broken)]
    with live_server(create_app(Settings(backend="echo"), runtimes=runtimes)) as base:
        page = open_chat(browser, base)
        try:
            page.wait_for_selector("#model option", state="attached")
            page.select_option("#model", MODEL)
            assert page.locator("#ungrounded").is_hidden()
            page.select_option("#model", "echo-unbooked")
            notice = page.locator("#ungrounded")
            notice.wait_for(state="visible")
            assert "不使用法条库" in notice.inner_text() and str(broken) in notice.inner_text()
            page.click("#lang")
            assert "without the statute books" in notice.inner_text()
            page.select_option("#model", MODEL)
            assert notice.is_hidden()
            assert page.errors == []
        finally:
            page.context.close()
