"""The engine's token picker chooses exactly what llama.cpp's own sampler chain chooses.

Under a grammar, a refused arg-max is looked for among the best ``TOP`` tokens first: that must
be the token the grammar pass over the whole vocabulary picks, on the real citation grammar.

The picker runs the bias / penalty / DRY samplers on the few tokens they can change and then
takes the arg-max (or llama.cpp's draw) over the row; the reference here is llama.cpp's chain
in llama.cpp's order over the whole vocabulary (``llama_sampler_sample``), on the same logits:
the model's own rows, and rows overwritten with coarse random values (many ties, the recent
tokens lifted so that the penalties decide), across prompts, penalty settings and seeds.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from legal_edge.backends.base import SamplingParams
from legal_edge.backends.llamacpp import cpu_mode

llama_cpp = pytest.importorskip("llama_cpp")

from legal_edge.backends.llamacpp.picker import DRY_BREAKERS, TOP, Samplers  # noqa: E402
from legal_edge.statutes.cite_grammar import citation_grammar  # noqa: E402

PROMPTS = [
    "the court held that",
    "<start_of_turn>user\n劳动合同法规定了什么？<end_of_turn>\n<start_of_turn>model\n",
    "what is the legal basis for the claim? the answer is in article one of the civil code.",
    "被告应当承担违约责任",
    "legal question: may a tenant terminate the lease early?",
]
BASE = SamplingParams(max_tokens=48, temperature=0.0)
SETTINGS = {
    "manifest default": dataclasses.replace(
        BASE, repeat_penalty=1.1, repeat_last_n=64, dry_multiplier=0.8
    ),
    "strong penalties": dataclasses.replace(
        BASE, repeat_penalty=1.5, repeat_last_n=16, frequency_penalty=0.5, presence_penalty=0.3
    ),
    "penalty below one": dataclasses.replace(BASE, repeat_penalty=0.8, repeat_last_n=-1),
    "dry alone": dataclasses.replace(
        BASE, dry_multiplier=2.0, dry_base=1.5, dry_allowed_length=1, dry_last_n=32
    ),
    "bias and negative presence": dataclasses.replace(
        BASE, logit_bias=((7, 4.0), (40, -100.0), (300, 2.5)), presence_penalty=-0.5
    ),
    "sampled, top-p": dataclasses.replace(
        BASE, temperature=0.8, top_p=0.9, repeat_penalty=1.2, dry_multiplier=0.8
    ),
    "sampled, frequency": dataclasses.replace(BASE, temperature=1.3, frequency_penalty=0.7),
}
SEEDS = (1, 42, 2024)
MERGED = Path(__file__).resolve().parents[3] / "models" / "legal-gemma3-270m" / "merged"


class Model:
    """One llama.cpp context over ``path`` (one sequence), decoding a token at a time."""

    def __init__(self, path: Path):
        llama_cpp.llama_backend_init()
        mparams = cpu_mode.model_params(repack=False)  # the same kernels on every CPU
        self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        assert self.model, path
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = 256
        cparams.n_threads = cparams.n_threads_batch = 1
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(256, 0, 1)
        self.n_past = 0

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        return buf.raw[: max(n, 0)]

    def tokens(self, text: str, bos: bool = True) -> list[int]:
        data = text.encode()
        buf = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, len(buf), bos, True)
        return list(buf[:n])

    def start(self, text: str) -> int:
        """Clear the cache, decode ``text``; the output index of its last token."""
        llama_cpp.llama_memory_seq_rm(self.mem, -1, -1, -1)
        self.n_past = 0
        return self.decode(self.tokens(text))

    def decode(self, tokens: list[int]) -> int:
        b = self.batch
        for i, tok in enumerate(tokens):
            b.token[i], b.pos[i], b.n_seq_id[i] = tok, self.n_past + i, 1
            b.seq_id[i][0] = 0
            b.logits[i] = i == len(tokens) - 1
        b.n_tokens = len(tokens)
        assert llama_cpp.llama_decode(self.ctx, b) == 0
        self.n_past += len(tokens)
        return len(tokens) - 1

    def row(self, idx: int) -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, idx), (self.n_vocab,))

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)


def reference_chain(model: Model, params: SamplingParams, seed: int) -> object:
    """llama.cpp's whole chain, made afresh: bias, penalties, DRY, then greedy or the draw."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = lambda s: llama_cpp.llama_sampler_chain_add(chain, s)  # noqa: E731
    if params.logit_bias:
        items = (llama_cpp.llama_logit_bias * len(params.logit_bias))()
        for i, (token, bias) in enumerate(params.logit_bias):
            items[i].token, items[i].bias = token, bias
        add(llama_cpp.llama_sampler_init_logit_bias(model.n_vocab, len(items), items))
    last_n = params.max_tokens if params.repeat_last_n < 0 else params.repeat_last_n
    add(
        llama_cpp.llama_sampler_init_penalties(
            model.n_vocab,
            last_n,
            params.repeat_penalty,
            params.frequency_penalty,
            params.presence_penalty,
        )
    )
    if params.dry_multiplier > 0:
        dry_n = params.max_tokens if params.dry_last_n < 0 else params.dry_last_n
        breakers = (ctypes.c_char_p * len(DRY_BREAKERS))(*DRY_BREAKERS)
        add(
            llama_cpp.llama_sampler_init_dry(
                model.vocab,
                params.dry_multiplier,
                params.dry_base,
                params.dry_allowed_length,
                dry_n,
                breakers,
                len(DRY_BREAKERS),
            )
        )
    if params.temperature <= 0:
        add(llama_cpp.llama_sampler_init_greedy())
        return chain
    if params.top_p < 1.0:
        add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
    add(llama_cpp.llama_sampler_init_temp(params.temperature))
    add(llama_cpp.llama_sampler_init_dist(seed))
    return chain


def compare_streams(model: Model, samplers: Samplers, coarse: bool) -> Iterator[int]:
    """For every prompt, setting and seed: generate with llama.cpp's chain and the picker side
    by side on the same rows, failing at the first token they disagree on. Yields, per step,
    whether the chosen token differs from the raw arg-max (the penalties mattered)."""
    rng = np.random.default_rng(7)
    for name, params in SETTINGS.items():
        for seed in SEEDS if params.temperature > 0 else SEEDS[:1]:
            for prompt in PROMPTS:
                ref = reference_chain(model, params, seed)
                picker = samplers.make(params, seed)
                assert picker is not None
                idx, recent = model.start(prompt), []
                try:
                    for step in range(params.max_tokens):
                        row = model.row(idx)
                        if coarse:  # ties everywhere; the recent tokens in the running
                            row[:] = np.round(rng.standard_normal(model.n_vocab) * 2) / 2
                            row[recent[-8:]] += 3.0
                        plain = int(row.argmax())
                        want = llama_cpp.llama_sampler_sample(ref, model.ctx, idx)
                        got = picker.pick(row, model.ctx, idx)
                        assert got == want, (name, seed, prompt, step, recent)
                        yield int(want != plain)
                        recent.append(want)
                        idx = model.decode([want])
                finally:
                    picker.free()
                    llama_cpp.llama_sampler_free(ref)


@contextlib.contextmanager
def opened(gguf: Path) -> Iterator[tuple[Model, Samplers]]:
    """``gguf`` loaded with its samplers, both freed after."""
    model = Model(gguf)
    samplers = Samplers(model.vocab, model.n_vocab, model.piece)
    try:
        yield model, samplers
    finally:
        samplers.close()
        model.close()


def merged_gguf() -> Path:
    """The served 262k-token vocabulary's model (the merged one), or the test is skipped."""
    ggufs = sorted(MERGED.glob("*.gguf"))
    if not ggufs:
        pytest.skip("no merged model built (setup links models/legal-gemma3-270m/merged)")
    return ggufs[0]


@pytest.mark.parametrize("coarse", [False, True], ids=["model rows", "coarse rows"])
def test_picker_matches_llama_cpp_chain_on_the_tiny_model(tiny_gguf: Path, coarse: bool) -> None:
    with opened(tiny_gguf) as (model, samplers):
        steps = list(compare_streams(model, samplers, coarse))
    # not vacuous: the penalties and draws moved many tokens off the plain arg-max
    assert len(steps) > 1000 and sum(steps) > len(steps) // 10, (sum(steps), len(steps))


@pytest.mark.slow
def test_picker_matches_llama_cpp_chain_on_the_shipped_model() -> None:
    """The same on the served 262k-token vocabulary (the merged model when it is built)."""
    with opened(merged_gguf()) as (model, samplers):
        steps = list(compare_streams(model, samplers, coarse=False))
    assert sum(steps) > 0


HEADINGS = [
    "《中华人民共和国刑法》第一百三十三条之一",
    "《中华人民共和国刑法》第三百三十四条",
    "《中华人民共和国劳动合同法》第三十七条",
]
CITING = dataclasses.replace(BASE, max_tokens=24, grammar=citation_grammar(HEADINGS))
GRAMMAR_SETTINGS = {
    "greedy": CITING,
    "penalties and bias": dataclasses.replace(
        CITING,
        repeat_penalty=1.3,
        repeat_last_n=16,
        presence_penalty=0.4,
        logit_bias=((7, 4.0), (40, -100.0), (300, 2.5)),
    ),
}
# answers begun inside a heading, where the grammar allows few tokens and refuses most
ANSWER_STARTS = ["根据《", "依照《中华人民共和国", "《中华人民共和国刑法》第"]


def compare_grammar_paths(model: Model, samplers: Samplers, coarse: bool) -> Iterator[str]:
    """Decode under the citation grammar from each answer start with two pickers side by side
    on copies of the same rows: the engine's, and one whose refusals always go to the whole
    vocabulary; they must agree at every step. Yields how each step was decided: free, top
    (among the ``TOP`` best) or whole (none of those allowed)."""
    rng = np.random.default_rng(11)
    for params in GRAMMAR_SETTINGS.values():
        for start in ANSWER_STARTS:
            for prompt in PROMPTS[:2]:
                fast, whole = samplers.make(params, 0), samplers.make(params, 0)
                assert fast is not None and whole is not None
                assert fast.grammar is not None and whole.grammar is not None
                whole.grammar._best_allowed = lambda row, struck: None  # type: ignore[method-assign]
                g = fast.grammar
                idx = model.start(prompt)
                try:
                    for tok in model.tokens(start, bos=False):  # the answer so far
                        fast.accept(tok)
                        whole.accept(tok)
                        idx = model.decode([tok])
                    for _ in range(params.max_tokens):
                        row = model.row(idx)
                        if coarse:  # ties at the top
                            row[:] = np.round(rng.standard_normal(model.n_vocab) * 2) / 2
                        refused, widened = g.refused, g.widened
                        want = whole.pick(row.copy(), model.ctx, idx)
                        got = fast.pick(row.copy(), model.ctx, idx)
                        assert got == want, (params, start, prompt)
                        yield (
                            "whole"
                            if g.widened > widened
                            else "top"
                            if g.refused > refused
                            else "free"
                        )
                        idx = model.decode([got])
                finally:
                    fast.free()
                    whole.free()


@pytest.mark.parametrize("coarse", [False, True], ids=["model rows", "coarse rows"])
def test_a_refused_token_is_replaced_by_the_whole_vocabularys_choice(
    tiny_gguf: Path, coarse: bool
) -> None:
    with opened(tiny_gguf) as (model, samplers):
        steps = list(compare_grammar_paths(model, samplers, coarse))
    assert model.n_vocab > TOP  # else the top would be the whole vocabulary
    assert steps.count("top") > 10, steps  # not vacuous: the grammar refused, the top decided


@pytest.mark.slow
def test_the_top_tokens_decide_refusals_on_the_shipped_model() -> None:
    """The same on the served 262k-token vocabulary with its own rows (the merged model)."""
    with opened(merged_gguf()) as (model, samplers):
        steps = list(compare_grammar_paths(model, samplers, coarse=False))
    assert steps.count("top") > 0, steps
