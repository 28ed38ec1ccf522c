"""Take the chat page's screenshots for the docs with the shipped model (not a test).

    .venv/bin/python -m tests.legal_edge.web.screenshots [--out docs/images]

Starts the server in-process on the shipped default model (``./install.sh`` first), asks one
Chinese question in Chromium at desk and phone width and saves ``chat-zh.png`` and
``chat-phone.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from legal_edge.server.app import create_app
from legal_edge.settings.server import Settings
from tests.conftest import MODELS_DIR
from tests.fixtures.live_server import live_server
from tests.legal_edge.web.conftest import CHROMIUM_ARGS, chromium_path
from tests.legal_edge.web.pages import ask, open_chat, wait_answered

QUESTION = "公司拖欠工资两个月，员工可以立即解除劳动合同吗？需要提前通知吗？"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise SystemExit("no Chromium binary (apt-get install chromium)")
    settings = Settings(models_dir=MODELS_DIR, feedback_db=Path("/tmp/legal-edge-shots.sqlite"))
    with live_server(create_app(settings), timeout=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        for name, viewport in (
            ("chat-zh.png", {"width": 1280, "height": 800}),
            ("chat-phone.png", {"width": 390, "height": 844}),
        ):
            page = open_chat(browser, url, viewport=viewport)
            ask(page, QUESTION)
            wait_answered(page, timeout_ms=300_000)
            # the question and the start of the answer in view, no focus ring
            page.evaluate("document.getElementById('messages').scrollTop = 0")
            page.evaluate("window.scrollTo(0, 0); document.activeElement.blur()")
            page.screenshot(path=str(args.out / name))
            print(args.out / name)
            page.context.close()
        browser.close()


if __name__ == "__main__":
    main()
