"""Questions asked the way the server asks the model: grounded by the server's own code.

A suite with ``grounded: true`` (safety, crime questions, consultations) sends each prompt through
``legal_edge.server.grounding.ground``, the function a chat completion passes through: retrieval
with the server's ``grounding_k`` and ``grounding_min_score``, the last user turn rewritten into
``legal_edge.statutes.prompt.grounded_question`` with ``grounding_article_chars`` per article.
When retrieval finds nothing above the threshold, the answer is the server's fixed
``nothing_found_answer`` (no model runs, as in ``NothingFound``). Otherwise the server's
closed-book guard decides first, with the server's own functions (``closed_book_guard``): the
question as asked, greedy, for ``grounding_guard_tokens`` tokens; when that opening refuses, the
answer is the closed-book one. The model's answer goes through the server's ``CitationGuard``
when ``flag_unverified_citations`` is on (unverified citations marked; misattributed ones
corrected or marked, ``misattributed_citations``), so the text judged is the text a lawyer
reads. One code path: nothing of the server's prompt or of its
corrections is copied here. An ``http`` model with ``server_grounds`` is asked the question as
a lawyer asks it, and the server's own response is judged (its text, the articles its
``citations`` say were given, the mentions it corrected).

``grounded: both`` asks a suite twice, ``<name>`` closed-book and ``<name>_grounded`` through
the server's path; ``onoff`` pairs them in the report's "retrieval off vs on" table.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from legal_edge.server.closed_book_guard import REFUSED, closed_book, opening_refuses
from legal_edge.server.grounding import Grounded, Library, ground, guarded
from legal_edge.server.schemas import ChatCompletionRequest
from legal_edge.settings.loader import ConfigError
from legal_edge.settings.server import Settings, load_settings
from legal_edge.statutes.index import ArticleRecord, StatuteIndex
from legal_edge.statutes.prompt import nothing_found_answer
from recipes.evaluate.backends import BackendError, EvalBackend
from recipes.evaluate.config import SuiteSpec

GROUNDED_SUFFIX = "_grounded"
KINDS = ("safety", "crime_questions", "case")
_MODEL = "evaluated"  # the model id the borrowed Library grounds (any name; one index)


def expand(specs: list[SuiteSpec]) -> list[SuiteSpec]:
    """Every suite with ``grounded: both`` as two suites: closed-book and ``…_grounded``."""
    out: list[SuiteSpec] = []
    for s in specs:
        if s.grounded is not False and s.kind not in KINDS:
            raise ConfigError(
                f"suites.{s.name}.grounded: only {', '.join(KINDS)} suites "
                "(mcq and general suites use retrieval: true)"
            )
        if s.grounded == "both":
            out.append(dataclasses.replace(s, grounded=False))
            out.append(dataclasses.replace(s, name=s.name + GROUNDED_SUFFIX, grounded=True))
        else:
            out.append(s)
    return out


def server_settings(path: str | None) -> Settings:
    """The server settings whose grounding the evaluation copies: the file ``path`` (a server
    config, e.g. /etc/legal-edge/config.yaml), else the defaults the server ships with."""
    if not path:
        return Settings()
    if not Path(path).is_file():
        raise ConfigError(f"server_config: {path} does not exist")
    return load_settings(Path(path), environ={})


@dataclass
class ServedGrounding:
    """The server's grounding over one statute index, for one evaluation run."""

    index: StatuteIndex
    settings: Settings

    def __post_init__(self) -> None:
        self.library = Library(self.settings, {})
        self.library.by_model[_MODEL] = self.index

    def identity(self) -> list[Any]:
        """What a grounded answer depends on, for the prediction signature."""
        s = self.settings
        return [
            s.grounding_k,
            s.grounding_min_score,
            s.grounding_article_chars,
            s.flag_unverified_citations,
            s.misattributed_citations,
            s.grounding_guard,
            s.grounding_guard_tokens,
        ]

    def answer(self, backend: EvalBackend, prompt: str, max_tokens: int) -> dict[str, Any]:
        """The server's answer to one user turn (``ask``'s record)."""
        return self.ask(backend, prompt, max_tokens)[0]

    def ask(
        self, backend: EvalBackend, prompt: str, max_tokens: int
    ) -> tuple[dict[str, Any], list[ArticleRecord]]:
        """The server's answer to one user turn: ``text``, the articles given (``retrieved``),
        whether retrieval found nothing (then the text is the server's own, not the model's),
        ``generated``: the model's own text (before marks and corrections; absent when a
        server grounds), ``corrected``: each citation rewritten (``from`` what, ``to`` what),
        ``guard``: ``refused_closed_book`` when the closed-book guard answered instead (else
        None); and the given articles."""
        if getattr(backend, "server_grounds", False):
            return self._ask_server(backend, prompt, max_tokens)
        body = msgspec.convert(
            {"model": _MODEL, "messages": [{"role": "user", "content": prompt}]},
            ChatCompletionRequest,
        )
        g = asyncio.run(ground(body, _MODEL, self.library, self.settings))
        if g is None:  # cannot happen with an index; a changed server must not pass silently
            raise RuntimeError("the server's grounding returned nothing for an indexed model")
        if g.nothing_found:
            found = {"text": nothing_found_answer(), "retrieved": [], "nothing_found": True}
            return {**found, "corrected": []}, []
        outcome = None
        if self.guard_refuses(backend, body, g):
            g, outcome = closed_book(g, body), REFUSED
        retrieved = [f"《{a.law}》{a.label}" for a in g.articles]
        messages = [{"role": m.role, "content": m.content or ""} for m in g.body.messages]
        text = backend.generate(messages, max_tokens)  # type: ignore[arg-type]
        corrected, generated = [], text
        if g.flag:
            guard = g.guard()  # as the server streams it
            text = guard.push(text) + guard.flush()
            corrected = [
                {"from": generated[m.pos : m.end], "to": m.text} for m in guard.marks if m.replaces
            ]
        asked = {"text": text, "retrieved": retrieved, "nothing_found": False, "guard": outcome}
        return {**asked, "generated": generated, "corrected": corrected}, g.articles

    def guard_refuses(self, backend: EvalBackend, body: ChatCompletionRequest, g: Grounded) -> bool:
        """The server's closed-book guard on one grounded question: the question as asked,
        greedy, ``grounding_guard_tokens`` tokens, judged by the server's ``opening_refuses``."""
        if not guarded(self.settings, g):
            return False
        messages = [{"role": m.role, "content": m.content or ""} for m in body.messages]
        opening = backend.generate(messages, self.settings.grounding_guard_tokens)  # type: ignore[arg-type]
        return opening_refuses(opening).refused

    def _ask_server(
        self, backend: EvalBackend, prompt: str, max_tokens: int
    ) -> tuple[dict[str, Any], list[ArticleRecord]]:
        """``ask`` through a legal-edge server that grounds the question itself: the given
        articles are its ``citations`` with a ``given`` number, looked up in this index."""
        data = backend.chat([{"role": "user", "content": prompt}], max_tokens)  # type: ignore[attr-defined]
        text = data["choices"][0]["message"]["content"] or ""
        cites = data.get("citations")
        if cites is None:
            raise BackendError("server_grounds: the server's response has no citations list")
        given = sorted((c for c in cites if c.get("given")), key=lambda c: c["given"])
        articles = [self.index.lookup(c["law"], c["article"]) for c in given]
        if any(a is None for a in articles):
            raise BackendError("server_grounds: the server gave articles this index lacks")
        corrected = [
            {"from": m["corrected_from"], "to": m["cited_as"]}
            for c in cites
            for m in c["mentions"]
            if m.get("corrected_from")
        ]
        outcome = (data.get("grounding") or {}).get("outcome")  # the server's guard decided
        asked = {
            "text": text,
            "retrieved": [f"《{c['law']}》{c['label']}" for c in given],
            "nothing_found": not given and text == nothing_found_answer(),
            "guard": REFUSED if outcome == REFUSED else None,
        }
        return {**asked, "corrected": corrected}, [a for a in articles if a is not None]


def answer(
    backend: EvalBackend, prompt: str, max_tokens: int, served: ServedGrounding | None
) -> dict[str, Any]:
    """``prompt`` asked closed-book (``served`` None) or through the server's grounding."""
    if served is None:
        return {"text": backend.generate([{"role": "user", "content": prompt}], max_tokens)}
    return served.answer(backend, prompt, max_tokens)


def served_metrics(asked: dict[str, Any]) -> dict[str, list[float]]:
    """``nothing_found_rate``: the share of grounded prompts the server answered itself (no
    article above its threshold); ``guard_refusal_rate``: the share its closed-book guard
    answered with the closed-book refusal; absent for closed-book answers."""
    if "nothing_found" not in asked:
        return {}
    return {
        "nothing_found_rate": [float(asked["nothing_found"]), 1.0],
        "guard_refusal_rate": [float(asked.get("guard") == REFUSED), 1.0],
    }


def correction_metrics(asked: dict[str, Any], text: str, index: StatuteIndex) -> dict[str, Any]:
    """``citations_corrected``: the citations of the answer as sent that the server rewrote to
    the given article their sentence restates, of all its citations."""
    if "corrected" not in asked:
        return {}
    n = len(index.verify_citations(text))
    fixed = len(asked["corrected"])
    return {"citations_corrected": [float(fixed), float(max(n, fixed))]}
