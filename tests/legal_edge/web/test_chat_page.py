"""The chat page in a real Chromium against a real server (echo backend, which repeats the question
word by word, slowly enough to watch and to stop)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.echo import EchoBackend
from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.fixtures.live_server import live_server
from tests.legal_edge.helpers import echo_manifest
from tests.legal_edge.web.pages import (
    ask,
    last_answer,
    open_chat,
    running,
    stored,
    wait_answered,
    wait_models,
    wait_running,
)

MODEL = "echo-model"
KEY = "office-key-2026"
LONG = " ".join(f"第{i}段" for i in range(120))  # 120 words at 30 ms: about 4 s of streaming


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One sequence at a time and no queue, so a second request meets a full queue (503)."""
    db = tmp_path_factory.mktemp("web") / "feedback.sqlite"
    backend = EchoBackend(
        echo_manifest(MODEL, ctx=256),
        BackendOptions(n_ctx=256, n_parallel=1, max_queue=0, extra={"echo_delay_s": 0.03}),
    )
    settings = Settings(backend="echo", feedback_db=db, response_retention_days=1.0)
    with live_server(create_app(settings, backend=backend)) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    backend = EchoBackend(echo_manifest(MODEL, ctx=256), BackendOptions(n_ctx=256))
    with live_server(create_app(Settings(backend="echo", api_keys=(KEY,)), backend=backend)) as url:
        yield url


@pytest.fixture
def page(browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    p = open_chat(browser, server["url"])
    yield p
    assert p.errors == [], p.errors  # no script error, no Content-Security-Policy violation
    p.context.close()


def test_the_answer_grows_as_tokens_stream(page: Any) -> None:
    question = "劳动 合同 解除 的 **法定** 条件 是 什么 `第四十条` " + " ".join(["细节"] * 30)
    ask(page, question)
    # part of the answer is on screen while the stream still runs
    page.wait_for_function(
        "() => { const b = document.querySelector('.msg.assistant .body');"
        " return !document.getElementById('stop').disabled && b && b.textContent.length > 0; }"
    )
    partial = last_answer(page)
    wait_answered(page)
    full = last_answer(page)
    assert 0 < len(partial) < len(full)
    assert full.startswith("劳动 合同 解除 的 法定 条件")
    # the Markdown subset: bold and code became elements, nothing else did
    body = page.locator(".msg.assistant .body").last
    assert body.locator("strong").inner_text() == "法定"
    assert body.locator("code").inner_text() == "第四十条"
    assert page.locator(".msg.user .body").inner_text() == question
    assert page.evaluate("document.activeElement.id") == "prompt"
    # copy gives the answer as the model wrote it (Markdown), not the rendered text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click(".msg.assistant .copy")
    page.wait_for_selector(".copy-status:has-text('已复制')")
    assert page.evaluate("navigator.clipboard.readText()") == question


def test_stop_cancels_the_request_and_frees_the_sequence(page: Any, server: dict[str, Any]) -> None:
    ask(page, LONG)
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant .body').textContent.length > 0"
    )
    assert running(server["url"]).get(MODEL) == 1.0
    page.click("#stop")
    assert wait_running(server["url"], MODEL, 0.0) == 0.0
    wait_answered(page)
    assert page.locator(".msg.assistant .stopped").inner_text() == "（已停止）"
    answer = last_answer(page)
    assert 0 < len(answer.split()) < 120
    conv = stored(page)[0]
    assert conv["messages"][1]["stopped"] is True


def test_feedback_reaches_the_store(page: Any, server: dict[str, Any]) -> None:
    assert page.get_attribute("#privacy", "data-keeps") == "true"
    assert "保存问题和回答" in page.inner_text("#privacy")
    ask(page, "继承 顺序")
    wait_answered(page)
    response_id = stored(page)[0]["messages"][1]["id"]
    assert response_id.startswith("chatcmpl-")
    page.click(".rate-up")
    page.wait_for_selector(".feedback-status:has-text('反馈已发送')")
    assert page.get_attribute(".rate-up", "aria-pressed") == "true"
    page.click(".correct")
    page.fill(".correction-text", "第一顺序：配偶、子女、父母。")
    page.click(".send-correction")
    page.wait_for_function("() => document.querySelector('.correction').hidden")
    with sqlite3.connect(server["db"]) as db:
        rows = db.execute(
            "SELECT rating, correction FROM feedback WHERE response_id = ? ORDER BY created",
            (response_id,),
        ).fetchall()
    assert sorted(rows, key=str) == sorted(
        [("up", None), ("down", "第一顺序：配偶、子女、父母。")], key=str
    )


def test_conversations_survive_a_reload_and_can_be_renamed_exported_deleted(page: Any) -> None:
    ask(page, "离婚 财产 分割")
    wait_answered(page)
    page.click("#new-chat")
    ask(page, "交通 事故 赔偿")
    wait_answered(page)
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    titles = page.locator(".conv-open").all_inner_texts()
    assert titles == ["交通 事故 赔偿", "离婚 财产 分割"]
    assert last_answer(page) == "交通 事故 赔偿"  # the current one is shown again
    page.click(".conv-open >> text=离婚 财产 分割")
    assert last_answer(page) == "离婚 财产 分割"
    # rename with the keyboard only
    page.focus(".conv.current .conv-rename")
    page.keyboard.press("Enter")
    page.keyboard.type("张三 离婚案")
    page.keyboard.press("Enter")
    assert page.locator(".conv.current .conv-open").inner_text() == "张三 离婚案"
    with page.expect_download() as download:
        page.click("#export")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# 张三 离婚案\n")
    assert "**您:**\n\n离婚 财产 分割" in text and "**助手 (echo-model):**" in text
    page.once("dialog", lambda d: d.accept())
    page.click(".conv:has-text('交通') .conv-delete")
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    assert page.locator(".conv-open").all_inner_texts() == ["张三 离婚案"]


def test_model_output_never_becomes_html(page: Any) -> None:
    attack = "<img src=x onerror=window.__pwned=1> <script>window.__pwned=2</script> **<b>x</b>**"
    ask(page, attack)
    wait_answered(page)
    body = page.locator(".msg.assistant .body").last
    assert body.inner_text() == attack.replace("**<b>x</b>**", "<b>x</b>")
    assert body.locator("img, script, b").count() == 0
    assert page.locator(".msg.user img, .msg.user script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_enter_sends_shift_enter_breaks_ime_enter_does_neither(page: Any) -> None:
    wait_models(page)
    page.evaluate(
        "window.__keys = [];"
        " document.getElementById('prompt').addEventListener('keydown',"
        " e => window.__keys.push(e.isComposing))"
    )
    page.focus("#prompt")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.imeSetComposition", {"text": "hetong", "selectionStart": 6, "selectionEnd": 6})
    page.keyboard.press("Enter")  # a pinyin IME confirms its candidate with Enter
    cdp.send("Input.insertText", {"text": "合同"})
    assert page.evaluate("window.__keys") == [True]  # the browser saw a composing Enter
    assert page.locator(".msg").count() == 0
    page.fill("#prompt", "第一行")
    page.press("#prompt", "Shift+Enter")
    page.keyboard.type("第二行")
    assert page.input_value("#prompt") == "第一行\n第二行"
    assert page.locator(".msg").count() == 0
    page.press("#prompt", "Enter")
    wait_answered(page)
    assert page.locator(".msg.user .body").inner_text() == "第一行\n第二行"


def test_full_queue_and_too_long_conversation_read_as_sentences(
    page: Any, server: dict[str, Any]
) -> None:
    wait_models(page)
    # another client holds the only sequence
    page.evaluate(
        """([model, text]) => { window.__other = new AbortController();
        fetch('/v1/chat/completions', {method: 'POST', signal: window.__other.signal,
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({model, stream: true, messages: [{role: 'user', content: text}]})})
          .then(r => r.body.getReader().read()).catch(() => {}); }""",
        [MODEL, LONG],
    )
    assert wait_running(server["url"], MODEL, 1.0) == 1.0
    ask(page, "排队 的 问题")
    wait_answered(page)
    error = page.inner_text("#error")
    assert error.startswith("服务器正忙（排队已满）") and "{" not in error
    page.evaluate("window.__other.abort()")
    assert wait_running(server["url"], MODEL, 0.0) == 0.0
    ask(page, " ".join(["很长"] * 300))
    wait_answered(page)
    assert page.inner_text("#error").startswith("对话太长")
    # the failed turns are not sent again with the next question
    with page.expect_request("**/v1/chat/completions") as request:
        ask(page, "正常 问题")
    wait_answered(page)
    assert request.value.post_data_json["messages"] == [{"role": "user", "content": "正常 问题"}]
    assert page.is_hidden("#error")


def test_sse_parser_handles_lf_crlf_cr_and_split_chunks(page: Any) -> None:
    events = page.evaluate(
        """() => { const out = [];
        const p = LegalEdgeChat.createSSEParser(d => out.push(d));
        for (const piece of ['data: {"a"', ':1}\\r', '\\n\\r\\n: keep-alive\\n\\n',
                             'data: x\\n', 'data: y\\n\\ndata:z\\r\\r', 'data: [DONE]\\r\\n',
                             '\\r\\n']) p.push(piece);
        p.push('data: tail'); p.end(); return out; }"""
    )
    assert events == ['{"a":1}', "x\ny", "z", "[DONE]", "tail"]


def test_language_follows_the_browser_and_can_be_switched(
    browser: Any, server: dict[str, Any]
) -> None:
    page = open_chat(browser, server["url"], locale="en-US")
    try:
        assert page.inner_text("#send") == "Send"
        assert page.get_attribute("html", "lang") == "en"
        question = " ".join(["word"] * 40)
        ask(page, question)
        assert page.inner_text(".msg.assistant .who") == "Assistant"
        page.click("#lang")  # while the answer streams: it keeps growing in the new language
        assert page.inner_text("#send") == "发送"
        wait_answered(page)
        assert page.inner_text(".msg.assistant .who") == "助手"
        assert last_answer(page) == question
        page.reload()
        page.wait_for_selector("body[data-ready]", state="attached")
        assert page.inner_text("#send") == "发送"  # the choice is remembered
        assert page.errors == []
    finally:
        page.context.close()


def test_wrong_api_key_is_asked_again_with_a_message(browser: Any, keyed_url: str) -> None:
    page = open_chat(browser, keyed_url)
    try:
        page.wait_for_selector("#key-dialog[open]")
        assert page.evaluate("document.activeElement.id") == "key-input"
        page.keyboard.type("wrong-key-123")
        page.keyboard.press("Enter")
        page.wait_for_selector("#key-message:has-text('密钥不正确')")
        assert page.inner_text("#error") == "API 密钥无效或缺失，请重新输入。"
        assert page.evaluate("sessionStorage.getItem('legal-edge.api-key')") is None
        page.keyboard.type(KEY)
        page.keyboard.press("Enter")
        wait_models(page)
        assert not page.is_visible("#key-dialog")
        assert page.evaluate("sessionStorage.getItem('legal-edge.api-key')") == KEY
        ask(page, "带 密钥 的 问题")
        wait_answered(page)
        assert last_answer(page) == "带 密钥 的 问题"
        # the key is revoked in the meantime: the answer says so instead of failing silently
        page.evaluate("sessionStorage.setItem('legal-edge.api-key', 'revoked-key-1')")
        ask(page, "再 问")
        wait_answered(page)
        assert "API 密钥无效" in page.inner_text("#error")
        assert page.is_visible("#key-dialog")
        assert page.errors == []
    finally:
        page.context.close()


def test_keyboard_only_focus_order_and_every_control_labelled(page: Any) -> None:
    ask(page, "试用 期")
    wait_answered(page)
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    wait_models(page)
    order = []
    for _ in range(15):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    # header, conversation list, the answer's own actions, then the question box; Stop is
    # disabled while idle, the menu button exists only at phone width
    assert order == [
        "skip", "model", "lang", "set-key", "new-chat",
        "conv-open", "conv-rename icon-only", "conv-delete icon-only",
        "copy", "rate-up icon-only", "rate-down icon-only", "correct",
        "prompt", "export", "send",
    ], order  # fmt: skip
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('button, select, textarea, input')]
        .filter(el => el.offsetParent !== null)
        .filter(el => el.tagName === 'BUTTON'
            ? !(el.getAttribute('aria-label') || el.textContent.trim())
            : !(el.labels.length || el.getAttribute('aria-label')))
        .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    # the skip link leads to the question box
    page.keyboard.press("Shift+Tab")
    page.focus(".skip")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#prompt"


@pytest.mark.parametrize("width", [1024, 390])
def test_usable_at_laptop_and_phone_width(browser: Any, server: dict[str, Any], width: int) -> None:
    page = open_chat(browser, server["url"], viewport={"width": width, "height": 800})
    try:
        ask(page, "租赁 合同 纠纷")
        wait_answered(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
        main = page.locator("main").bounding_box()
        aside = page.locator("aside").bounding_box()
        assert page.is_visible(".msg.assistant") and page.is_visible("#send")
        if width == 1024:  # three columns: conversations, chat, sources
            nav = page.locator("nav").bounding_box()
            assert nav["x"] < main["x"] < aside["x"]
            send = page.locator("#send").bounding_box()
            assert send["y"] + send["height"] <= 800  # the question box stays in the window
            assert not page.is_visible("#toggle-nav")
        else:  # one column; the conversation list opens from the menu button
            assert aside["y"] > main["y"]
            assert not page.is_visible("#conversations")
            page.click("#toggle-nav")
            assert page.is_visible("#conversations")
            assert page.get_attribute("#toggle-nav", "aria-expanded") == "true"
            page.click(".conv-open")
            assert not page.is_visible("#conversations")
        assert page.errors == []
    finally:
        page.context.close()
