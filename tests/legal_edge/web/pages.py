"""What the browser tests do on the chat page, in the words of a user: open it, ask, wait, stop."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

RUNNING = re.compile(r'^legal_edge_requests_running\{model="([^"]+)"\} ([0-9.]+)$', re.M)


def open_chat(browser: Any, url: str, locale: str = "zh-CN", **context_kw: Any) -> Any:
    """A fresh browser context (empty storage), the page loaded and its model list filled."""
    context = browser.new_context(locale=locale, **context_kw)
    page = context.new_page()
    page.errors = []  # uncaught exceptions and CSP violations: a test asserts there are none
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # HTTP error statuses are logged as "Failed to load resource"; the tests check those answers
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and page.errors.append(m.text)
        ),
    )
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready]", state="attached")
    return page


def wait_models(page: Any) -> None:
    page.wait_for_selector("#model option", state="attached")


def ask(page: Any, text: str) -> None:
    wait_models(page)
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_selector(".msg.assistant", state="attached")


def wait_answered(page: Any, timeout_ms: float = 30_000) -> None:
    """Until the last answer is complete (Stop disabled again and nothing pending)."""
    page.wait_for_function(
        "() => document.getElementById('stop').disabled"
        " && document.querySelector('#chat').getAttribute('aria-busy') === 'false'",
        timeout=timeout_ms,
    )


def last_answer(page: Any) -> str:
    return page.locator(".msg.assistant .body").last.inner_text()


def stored(page: Any) -> list[dict[str, Any]]:
    """The conversations as the page keeps them in localStorage."""
    return page.evaluate("JSON.parse(localStorage.getItem('legal-edge.conversations.v1') || '[]')")


def running(url: str) -> dict[str, float]:
    """The server's ``legal_edge_requests_running`` gauge per model."""
    text = httpx.get(url + "/metrics", timeout=5).text
    return {m: float(v) for m, v in RUNNING.findall(text)}


def wait_running(url: str, model: str, want: float, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = running(url).get(model, 0.0)
        if value == want or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
