"""How statute text and queries become index terms; the builder and the server share it, so a
query is cut exactly like the articles were.

``words``: jieba in search mode (``构成犯罪`` also yields ``犯罪``), punctuation and a short list
of function words dropped. ``bigrams``: overlapping character pairs, no dictionary at all.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]+|[A-Za-z]+|\d+")
_KEEP_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# Function words and question phrasing that match half the corpus and say nothing about the law.
STOPWORDS = frozenset(
    "的 了 是 在 和 与 或 及 以及 或者 并 对 由 为 以 于 被 将 把 从 向 其 该 之 等 者 所 而 "
    "也 都 就 "
    "我 你 他 她 它 我们 你们 他们 这 那 这个 那个 什么 怎么 怎么办 怎样 如何 吗 呢 吧 啊 呀 么 "
    "请问 请 问 想 要 能 能否 可以 可 会 有 没有 没 不 不是 还 又 再 已经 一个 一下 谁 哪 哪些 "
    "多少 几 应该 应当 需要 是否 因为 所以 如果 但是 但 则 即 后 前 时 中 上 下 里".split()
)
_lock = threading.Lock()
_cut: Callable[[str], list[str]] | None = None


def _jieba_cut() -> Callable[[str], list[str]]:
    global _cut
    with _lock:
        if _cut is None:
            import jieba  # imported on first use: 0.5 s and a 5 MB dictionary

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _cut = jieba.lcut_for_search
    return _cut


def words(text: str) -> list[str]:
    """jieba search-mode terms of ``text`` without punctuation or function words."""
    cut = _jieba_cut()
    return [t for t in cut(text) if _KEEP_RE.search(t) and t not in STOPWORDS]


def bigrams(text: str) -> list[str]:
    """Overlapping character pairs inside each run of Chinese; Latin words and numbers whole."""
    out: list[str] = []
    for run in _CJK_RUN_RE.findall(text):
        if len(run) == 1 or not "\u4e00" <= run[0] <= "\u9fff":
            if run not in STOPWORDS:
                out.append(run)
            continue
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"words": words, "bigrams": bigrams}
