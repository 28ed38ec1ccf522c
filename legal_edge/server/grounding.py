"""Grounded chat completions: which statute index a model answers from, what a request asks for
(the ``grounding`` extension field), retrieval, and the ``citations`` list of a response.

The indexes are opened once per process, in the lifespan (``Library.open``), and warmed, so the
first question does not wait for jieba's dictionary. See docs/grounding.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgspec

from legal_edge.models.manifest import ModelManifest
from legal_edge.server.errors import bad_request
from legal_edge.server.schemas import ChatCompletionRequest, ChatMessage
from legal_edge.settings.server import Settings
from legal_edge.statutes.answer_check import Mention, citation_entries, mentions, support_marks
from legal_edge.statutes.books import index_path, min_score, open_index
from legal_edge.statutes.flags import CitationGuard, Mark
from legal_edge.statutes.index import (
    ArticleRecord,
    IndexError_,
    SearchParams,
    StatuteIndex,
    Verification,
)
from legal_edge.statutes.prompt import ArticleLike, grounded_question
from legal_edge.statutes.query import consultation_query

log = logging.getLogger("legal_edge.server")


def search_params(settings: Settings) -> SearchParams:
    """How the server's indexes rank: ``SearchParams``' defaults with the settings' choices."""
    return SearchParams(
        expansion_weight=settings.grounding_expansion_weight,
        collapse=settings.grounding_collapse_repeats,
    )


@dataclass
class Library:
    """The statute indexes of the served models (one open index per file) and the look-up
    endpoints' index (``statutes_index``, else the first grounded model's)."""

    settings: Settings
    manifests: dict[str, ModelManifest]
    indexes: dict[Path, StatuteIndex] = field(default_factory=dict)
    by_model: dict[str, StatuteIndex] = field(default_factory=dict)
    off: dict[str, str] = field(default_factory=dict)  # model -> why it is not grounded
    # models whose manifest (or grounding: on) asks for an index they could not open
    failed: set[str] = field(default_factory=set)
    opened: bool = False  # open() has run

    def open(self) -> None:
        """Open and warm every index (blocking: run it in a thread); one log line per model
        that is not grounded, saying why. A missing index never stops the server."""
        if self.settings.statutes_index is not None:
            self._open(Path(self.settings.statutes_index))  # the look-up endpoints' index
        for name, manifest in self.manifests.items():
            path, why = index_path(self.settings, manifest)
            index = self._open(path) if path is not None else None
            if isinstance(index, str):
                why, index = index, None
            if index is None:
                self.off[name] = why
                # an index the model should have and does not: a warning; none named: info
                level = logging.WARNING if path is not None else logging.INFO
                log.log(level, "grounding off for %s: %s", name, why)
                if path is not None:
                    self.failed.add(name)
            else:
                self.by_model[name] = index
                log.info("grounding %s in %s", name, index.path)
        self.opened = True

    def _open(self, path: Path) -> StatuteIndex | str:
        key = path.resolve()
        if key not in self.indexes:
            try:
                index = open_index(path, search_params(self.settings))
                index.warm()
            except IndexError_ as exc:
                return f"{exc}; answers are not grounded"
            self.indexes[key] = index
        return self.indexes[key]

    def index_for(self, model: str) -> StatuteIndex | None:
        return self.by_model.get(model)

    def grounding_state(self, model: str) -> dict[str, Any]:
        """``grounded`` and, when not, why; ``expected``: its manifest asks for an index."""
        index = self.by_model.get(model)
        if index is not None:
            where = os.path.normpath(index.path.parent)  # models/../runs/... -> runs/...
            return {"grounded": True, "index": where, "reason": None}
        if not self.opened:
            return {"grounded": False, "index": None, "reason": "the statute index is loading"}
        why = self.off.get(model, "not a served model")
        return {"grounded": False, "index": None, "reason": why, "expected": model in self.failed}

    def endpoint_index(self) -> StatuteIndex | None:
        """The index behind /v1/statutes/*: statutes_index when set (opened by the endpoint),
        else the first grounded model's."""
        if self.settings.statutes_index is not None:
            return self.indexes.get(Path(self.settings.statutes_index).resolve())
        return next(iter(self.by_model.values()), None)

    def close(self) -> None:
        for index in self.indexes.values():
            index.close()
        self.indexes.clear()
        self.by_model.clear()


@dataclass(frozen=True)
class Options:
    """What one request asks of retrieval (``grounding`` field, else the settings)."""

    enabled: bool
    k: int
    date: str | None


def request_options(body: ChatCompletionRequest, settings: Settings) -> Options:
    g = body.grounding
    if g is None or isinstance(g, bool):
        return Options(g is not False, settings.grounding_k, None)
    date = None
    if g.date is not None:
        try:
            date = dt.date.fromisoformat(g.date).isoformat()
        except ValueError:
            raise bad_request(
                f"grounding.date: {g.date!r} is not a date (YYYY-MM-DD)", "grounding.date"
            ) from None
    k = settings.grounding_k if g.k is None else g.k
    return Options(g.enabled and k > 0, k, date)


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "".join(part.text for part in message.content)
    return message.content or ""


def retrieval_query(messages: list[ChatMessage], last: int) -> str:
    """The question first (its named articles are looked up first), then recent user turns."""
    earlier = [_text(m) for m in messages[:last] if m.role == "user"]
    return consultation_query([*earlier, _text(messages[last])])


@dataclass
class Grounded:
    """One grounded request: the articles given to the model and the rewritten request."""

    index: StatuteIndex
    body: ChatCompletionRequest
    articles: list[ArticleRecord]
    date: str | None
    flag: bool  # mark unverified citations in the answer text
    nothing_found: bool = False
    correct: bool = False  # rewrite a misattributed citation instead of marking its sentence

    def verify(self, text: str) -> list[Verification]:
        return self.index.verify_citations(text, self.date)

    def check(self, text: str, final: bool = True) -> list[Mention]:
        """Each citation of ``text``: exists, given, supported (``answer_check``)."""
        return mentions(self.index, self.articles, text, self.date, final)

    def support_marks(self, text: str, final: bool) -> list[Mark]:
        """The corrections of citations whose sentence restates another given article, or the
        marks after such sentences (``correct``)."""
        return support_marks(self.check(text, final), self.articles, self.correct)

    def guard(self) -> CitationGuard:
        """The guard the answer's text goes through (``flag``), streamed or whole."""
        return CitationGuard(self.verify, self.support_marks, hold=self.correct)

    def citations(self, answer: str, marks: Sequence[Mark] = ()) -> list[dict[str, Any]]:
        """The articles given to the model, then each other article the answer cites, with
        every mention's verdicts and offsets in the answer as sent (``marks`` inserted)."""
        return citation_entries(self.index, self.articles, self.check(answer), list(marks))


def guarded(settings: Settings, grounded: Grounded) -> bool:
    """Whether a grounded question is guarded (``closed_book_guard``): the guard is on and
    articles were put before the question (without them the prompt is the closed-book one)."""
    return settings.grounding_guard and bool(grounded.articles)


def is_automation(body: ChatCompletionRequest) -> bool:
    """A request for tool calls or JSON output is a program's, not a lawyer's question: its
    messages are not rewritten with articles and its output is not marked (a mark inside a JSON
    value could break the schema the client asked for)."""
    fmt = body.response_format
    return bool(body.tools) or (fmt is not None and fmt.type != "text")


async def ground(
    body: ChatCompletionRequest, model: str, library: Library | None, settings: Settings
) -> Grounded | None:
    """Retrieve for ``body`` and rewrite its last user turn, or None when the model is not
    grounded (the request's ``grounding`` field, validated, changes nothing then). Retrieval
    runs in a thread (2-20 ms; the event loop keeps streaming others)."""
    opts = request_options(body, settings)
    index = library.index_for(model) if library is not None else None
    if index is None:  # the field is accepted and ignored: the model has no index
        return None
    if is_automation(body):
        return None
    flag = settings.flag_unverified_citations
    fix = settings.misattributed_citations == "correct"
    last = next(
        (i for i in range(len(body.messages) - 1, -1, -1) if body.messages[i].role == "user"), None
    )
    if not opts.enabled or last is None:
        return Grounded(index, body, [], opts.date, flag, correct=fix)
    query = retrieval_query(body.messages, last)
    hits = await asyncio.to_thread(index.search, query, opts.k, opts.date)
    floor = min_score(index, settings.grounding_min_score)
    articles = [h for h in hits if h.score is None or h.score >= floor]
    if not articles:
        return Grounded(index, body, [], opts.date, flag, nothing_found=True, correct=fix)
    rewritten = with_articles(body, articles, settings.grounding_article_chars)
    return Grounded(index, rewritten, articles, opts.date, flag, correct=fix)


def with_articles(
    body: ChatCompletionRequest, articles: Sequence[ArticleRecord], chars: int
) -> ChatCompletionRequest:
    """``body`` with its last user turn rewritten to give ``articles`` (each cut to ``chars``)
    before the question: the request the model answers."""
    last = max(i for i, m in enumerate(body.messages) if m.role == "user")
    # (frozen records: read-only attributes, which ArticleLike declares plainly)
    given = cast(list[ArticleLike], list(articles))
    question = grounded_question(_text(body.messages[last]), given, chars)
    messages = list(body.messages)
    messages[last] = msgspec.structs.replace(messages[last], content=question)
    return msgspec.structs.replace(body, messages=messages)
