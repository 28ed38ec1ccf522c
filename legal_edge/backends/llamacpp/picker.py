"""One request's choice of the next token: llama.cpp's samplers, without walking the vocabulary
where that would change nothing.

llama.cpp's sampler chain hands every stage the whole candidate array (262,144 entries for
Gemma): the logit bias, the repetition penalties and DRY each visit every entry (the penalties
and DRY with a hash lookup per entry), then greedy or the draw visits them again. But the bias
changes only its own tokens, the penalties only the tokens of their window of the answer, and
DRY only tokens of its window that would extend a repeat; every other logit leaves those stages
as it came. So those stages (``adjust``) run, as llama.cpp's own samplers, on the few entries
they can touch, and the results are written back into the logits row. Then the row is read
once: its arg-max at temperature 0 (the first maximum, as llama.cpp's greedy sampler takes),
or llama.cpp's top-p -> temperature -> draw chain over it otherwise (top-p already cuts to a
partial sort of the best 256 before any full one). Same samplers, same arithmetic on the same
entries, same order of tokens: the same token as the whole chain over the whole vocabulary
(``tests/legal_edge/backends/test_picker.py`` checks that against llama.cpp's chain).

A grammar is asked about the chosen token first; only when it refuses that token does it run
over more (llama.cpp's common sampler does the same): at temperature 0 over the ``TOP`` tokens of
highest logit first (after a refused ``《`` the allowed tokens are few and ranked high), and over
the whole vocabulary only when none of those is allowed or one outside them could tie.
"""

from __future__ import annotations

import codecs
import ctypes
from collections import deque
from collections.abc import Callable

import llama_cpp
import numpy as np

from legal_edge.backends.base import SamplingParams
from legal_edge.backends.llamacpp.sampling import grammar_sampler, logit_bias_sampler

TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
# Tokens of highest logit a refused arg-max asks the grammar about before the whole vocabulary:
# an arg-partition and 256 grammar checks (~1-2 ms) instead of 262,144 checks (50-180 ms).
TOP = 256


def token_data_array(data: np.ndarray) -> llama_cpp.llama_token_data_array:
    """A llama.cpp candidate array over ``data`` (a ``TOKEN_DATA`` array that must outlive it)."""
    return llama_cpp.llama_token_data_array(
        data=data.ctypes.data_as(llama_cpp.llama_token_data_p),
        size=len(data),
        selected=-1,
        sorted=False,
    )


def candidates(ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
    data = np.empty(len(ids), dtype=TOKEN_DATA)
    data["id"] = ids
    data["logit"] = logits
    data["p"] = 0.0
    return data


class TokenPicker:
    """Sampling state of one request.

    ``adjust``: a llama.cpp chain of logit-bias / penalties / DRY samplers (or None), which
    changes only the tokens in ``bias_ids`` and in the last ``window`` accepted tokens.
    ``draw``: a llama.cpp chain that picks from the whole row (top-p, temperature, dist), or
    None for the arg-max. ``grammar``: a grammar sampler (or None); ``piece`` gives a token's
    bytes (a grammar answer must stay valid UTF-8)."""

    def __init__(
        self,
        *,
        n_vocab: int,
        adjust: object | None,
        window: int,
        bias_ids: tuple[int, ...] = (),
        draw: object | None = None,
        grammar: object | None = None,
        piece: Callable[[int], bytes] | None = None,
    ):
        self.n_vocab, self.adjust_chain, self.draw_chain = n_vocab, adjust, draw
        self.bias_ids = np.unique(np.asarray(bias_ids, dtype=np.int32))
        self.recent: deque[int] = deque(maxlen=max(0, window))
        self.grammar = GrammarCheck(self, grammar, piece) if grammar is not None else None

    def touched(self) -> np.ndarray:
        """The sorted token ids the ``adjust`` stages may change at this step."""
        if not self.recent:
            return self.bias_ids
        recent = np.fromiter(self.recent, dtype=np.int32, count=len(self.recent))
        return np.union1d(recent, self.bias_ids)

    def adjust(self, row: np.ndarray) -> None:
        """Apply the bias / penalty / DRY stages to ``row`` (in place), on the entries they
        can change."""
        if self.adjust_chain is None:
            return
        ids = self.touched()
        if ids.size == 0:
            return
        data = candidates(ids, row[ids])
        arr = token_data_array(data)
        llama_cpp.llama_sampler_apply(self.adjust_chain, ctypes.byref(arr))
        row[ids] = data["logit"]

    def pick(self, row: np.ndarray, ctx: object, idx: int) -> int:
        """The next token from ``row`` (output ``idx`` of ``ctx``: the row is that output's
        logits, which ``adjust`` changes in place), accepted into the samplers' state."""
        self.adjust(row)
        if self.grammar is not None:
            token = self.grammar.pick(row)
        elif self.draw_chain is None:
            token = int(row.argmax())
        else:  # llama.cpp reads the adjusted row from ctx; it accepts the token itself
            token = int(llama_cpp.llama_sampler_sample(self.draw_chain, ctx, idx))
            self._accept_adjust(token)
            return token
        self.accept(token)
        return token

    def draw_from(self, data: np.ndarray) -> int:
        """Run the draw stage over a candidate array (every token, some struck to -inf)."""
        if self.draw_chain is None:
            return int(data["id"][int(data["logit"].argmax())])
        arr = token_data_array(data)
        llama_cpp.llama_sampler_apply(self.draw_chain, ctypes.byref(arr))
        return int(data["id"][arr.selected])

    def _accept_adjust(self, token: int) -> None:
        if self.adjust_chain is not None:
            llama_cpp.llama_sampler_accept(self.adjust_chain, token)
        self.recent.append(token)

    def accept(self, token: int) -> None:
        self._accept_adjust(token)
        if self.draw_chain is not None:
            llama_cpp.llama_sampler_accept(self.draw_chain, token)
        if self.grammar is not None:
            llama_cpp.llama_sampler_accept(self.grammar.sampler, token)

    def free(self) -> None:
        for sampler in (self.adjust_chain, self.draw_chain):
            if sampler is not None:
                llama_cpp.llama_sampler_free(sampler)
        if self.grammar is not None:
            llama_cpp.llama_sampler_free(self.grammar.sampler)
        self.adjust_chain = self.draw_chain = self.grammar = None


class GrammarCheck:
    """Draw as if unconstrained, then ask the grammar about that one token; only when the
    grammar refuses it is the grammar run over more tokens and the token drawn again: at
    temperature 0 the ``TOP`` best first, then (none allowed) the whole vocabulary; a draw
    always over the whole vocabulary (top-p and the draw need every allowed token).
    (Checking 262k tokens against a grammar at every step costs more than the rest of a small
    model's step.)

    The answer's bytes must also stay valid UTF-8: llama.cpp's grammar decodes UTF-8 loosely
    (0xF8 reads as a lead byte, overlong forms pass), so a byte-fallback model could put bytes
    in a JSON string that a strict parser refuses; such a token is struck off and redrawn."""

    def __init__(self, picker: TokenPicker, sampler: object, piece: Callable[[int], bytes] | None):
        if piece is None:
            raise ValueError("a grammar needs the tokens' bytes (piece)")
        self.picker, self.sampler, self.piece = picker, sampler, piece
        self.ids = np.arange(picker.n_vocab, dtype=np.int32)
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.refused = 0  # steps where the free choice broke the grammar (for measurements)
        self.widened = 0  # ... and, at temperature 0, none of the TOP best was allowed

    def _allows(self, token: int, logit: float) -> bool:
        one = llama_cpp.llama_token_data(id=token, logit=logit, p=0.0)
        single = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(one), size=1, selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(single))
        return bool(np.isfinite(single.data[0].logit))

    def _free_choice(self, row: np.ndarray, struck: list[int]) -> int:
        if self.picker.draw_chain is None:  # the arg-max, the struck tokens masked meanwhile
            saved = row[struck]
            row[struck] = -np.inf
            token = int(row.argmax())
            row[struck] = saved
            return token
        data = candidates(self.ids, row)
        data["logit"][struck] = -np.inf
        return self.picker.draw_from(data)

    def _best_allowed(self, row: np.ndarray, struck: list[int]) -> int | None:
        """At temperature 0: the token the whole-vocabulary pass would pick (the highest logit
        the grammar allows, the first of equal ones), found among the ``TOP`` highest logits;
        None when none of them is allowed or a token outside them could equal the best."""
        k = min(TOP, len(row))
        top = np.argpartition(row, len(row) - k)[len(row) - k :].astype(np.int32)
        data = candidates(top, row[top])
        if struck:
            data["logit"][np.isin(top, struck)] = -np.inf
        arr = token_data_array(data)
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(arr))
        best = data["logit"].max()
        # every token outside ``top`` has a logit <= the least inside: only a best above it is
        # the best of the whole vocabulary (one equal to it may have a lower id outside)
        if not np.isfinite(best) or (k < len(row) and best <= row[top].min()):
            return None
        return int(top[data["logit"] == best].min())

    def _draw(self, row: np.ndarray, struck: list[int]) -> int:
        token = self._free_choice(row, struck)
        if self._allows(token, float(row[token])):
            return token
        self.refused += 1  # refused: the grammar over the best candidates, then every token
        if self.picker.draw_chain is None:
            best = self._best_allowed(row, struck)
            if best is not None:
                return best
            self.widened += 1
        return self._draw_whole(row, struck)

    def _draw_whole(self, row: np.ndarray, struck: list[int]) -> int:
        """The grammar over every token, then the draw (or the arg-max) over those allowed."""
        data = candidates(self.ids, row)
        data["logit"][struck] = -np.inf
        arr = token_data_array(data)
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(arr))
        return self.picker.draw_from(data)

    def _valid_utf8(self, token: int) -> bool:
        state = self.utf8.getstate()
        try:
            self.utf8.decode(self.piece(token))
            return True
        except UnicodeDecodeError:
            self.utf8.setstate(state)
            return False

    def pick(self, row: np.ndarray) -> int:
        struck: list[int] = []
        token = self._draw(row, struck)
        while not self._valid_utf8(token) and len(struck) < 64:
            struck.append(token)
            token = self._draw(row, struck)
        return token


# DRY's sequence breakers (llama.cpp's defaults): a repeat is not followed across them, so
# list markup and quoted text may recur.
DRY_BREAKERS = [b"\n", b":", b'"', b"*"]


class Samplers:
    """Makes each request's ``TokenPicker`` from its sampling parameters, for one vocabulary.
    ``longest`` is the longest answer there can be (the context): DRY over "the whole answer"
    looks back that far, the same as over ``max_tokens`` (an answer is never longer), so one
    DRY sampler serves every ``max_tokens``."""

    def __init__(
        self, vocab: object, n_vocab: int, piece: Callable[[int], bytes], longest: int = 32768
    ):
        self.vocab, self.n_vocab, self.piece, self.longest = vocab, n_vocab, piece, longest
        self._dry_protos: dict[tuple[float, float, int, int], object] = {}

    def make(self, params: SamplingParams, seed: int) -> TokenPicker | None:
        """The request's picker; None for the plain arg-max (greedy, nothing else asked)."""
        greedy = params.temperature <= 0
        if greedy and not params.penalised and not params.constrained:
            return None
        adjust, window = self.adjust_chain(params)
        draw = None if greedy else self.draw_chain(params, seed)
        grammar = None
        if params.grammar is not None:
            grammar = grammar_sampler(self.vocab, params.grammar, params.grammar_triggers)
        return TokenPicker(
            n_vocab=self.n_vocab,
            adjust=adjust,
            window=window,
            bias_ids=tuple(t for t, _ in params.logit_bias),
            draw=draw,
            grammar=grammar,
            piece=self.piece,
        )

    @staticmethod
    def draw_chain(params: SamplingParams, seed: int) -> object:
        """llama.cpp's top-p (when below 1) -> temperature -> seeded draw."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if params.top_p < 1.0:
            llama_cpp.llama_sampler_chain_add(
                chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1)
            )
        llama_cpp.llama_sampler_chain_add(
            chain, llama_cpp.llama_sampler_init_temp(params.temperature)
        )
        llama_cpp.llama_sampler_chain_add(
            chain, llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF)
        )
        return chain

    def adjust_stages(self, params: SamplingParams) -> tuple[list[object], int]:
        """The logit bias and llama.cpp's penalties (repeat / frequency / presence) and DRY
        samplers, as asked, in llama.cpp's order, and how many of the latest answer tokens
        they look back on. A chain accepts each token it samples, never the prompt's, so only
        the answer is penalised."""
        stages: list[object] = []
        if params.logit_bias:
            stages.append(logit_bias_sampler(self.n_vocab, params.logit_bias))
        whole = max(1, params.max_tokens)  # "-1: the whole answer"
        last_n = whole if params.repeat_last_n < 0 else params.repeat_last_n
        window = 0
        if last_n and (
            params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty
        ):
            stages.append(
                llama_cpp.llama_sampler_init_penalties(
                    self.n_vocab,
                    last_n,
                    params.repeat_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            )
            window = last_n
        dry_last_n = self.longest if params.dry_last_n < 0 else params.dry_last_n
        if params.dry_multiplier > 0 and dry_last_n:
            stages.append(self._dry_sampler(params, dry_last_n))
            window = max(window, dry_last_n)
        return stages, window

    def adjust_chain(self, params: SamplingParams) -> tuple[object | None, int]:
        stages, window = self.adjust_stages(params)
        if not stages:
            return None, 0
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        for stage in stages:
            llama_cpp.llama_sampler_chain_add(chain, stage)
        return chain, window

    def _dry_sampler(self, params: SamplingParams, last_n: int) -> object:
        """A fresh DRY sampler, cloned from one made once per setting: making one reads every
        token's text to find the sequence breakers, a cost per request otherwise."""
        key = (params.dry_multiplier, params.dry_base, params.dry_allowed_length, last_n)
        proto = self._dry_protos.get(key)
        if proto is None:
            breakers = (ctypes.c_char_p * len(DRY_BREAKERS))(*DRY_BREAKERS)
            proto = llama_cpp.llama_sampler_init_dry(
                self.vocab,
                params.dry_multiplier,
                params.dry_base,
                params.dry_allowed_length,
                last_n,
                breakers,
                len(DRY_BREAKERS),
            )
            if len(self._dry_protos) >= 16:  # settings come from requests: keep a few
                llama_cpp.llama_sampler_free(self._dry_protos.pop(next(iter(self._dry_protos))))
            self._dry_protos[key] = proto
        return llama_cpp.llama_sampler_clone(proto)

    def close(self) -> None:
        for proto in self._dry_protos.values():
            llama_cpp.llama_sampler_free(proto)
        self._dry_protos = {}
