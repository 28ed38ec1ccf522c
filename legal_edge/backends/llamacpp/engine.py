"""The continuous-batching engine: one thread owns a llama.cpp context and decodes all sequences.

Each step is one ``llama_decode`` over a batch that holds the next token of every running
sequence plus up to ``n_batch`` prompt tokens of newly admitted requests (prompts are processed
in chunks, mixed with decode tokens, so running streams never stall for a whole long prompt;
the shortest remaining prompt goes first, so a short question is not queued behind a long
document). New requests join between steps; finished or cancelled ones leave between
steps and their KV cells are freed with ``llama_memory_seq_rm`` at once. Sequence ``i`` of the
context is slot ``i``.

The engine knows nothing of asyncio: it hands each step's outputs to a ``deliver`` callback
(the backend forwards them to the event loop with ``call_soon_threadsafe``). ``llama_decode``
is a ctypes call, which releases the GIL, so the event loop runs freely while a step computes.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np

from legal_edge.backends.base import (
    BackendError,
    DeadlineExceeded,
    InvalidRequest,
    SamplingParams,
    TokenChunk,
    TokenLogprob,
)
from legal_edge.backends.llamacpp.batch import Batch
from legal_edge.backends.llamacpp.cpu_mode import (
    ProbeFailed,
    apply_lora,
    model_params,
    route_llama_log,
)
from legal_edge.backends.llamacpp.picker import Samplers, TokenPicker
from legal_edge.backends.llamacpp.sampling import (
    grammar_sampler,
    next_token_logprobs,
    token_logprobs,
)

_backend_lock = threading.Lock()
_backend_ready = False


def _init_llama_backend(verbose: bool) -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_backend_init()
            _backend_ready = True
    route_llama_log(verbose)


def physical_cores() -> int:
    """Physical cores this process may run on (hyperthread siblings counted once)."""
    cpus = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    cores = set()
    for cpu in cpus:
        sib = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(sib.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


@dataclass(eq=False)
class Job:
    """One request inside the engine. Only the engine thread touches the fields below ``cancel``."""

    tokens: list[int]
    params: SamplingParams
    seed: int
    max_new: int  # completion budget: min(max_tokens, context left); 0: the prompt only
    deadline: float | None
    sink: object  # opaque to the engine: handed back with every output
    cancelled: bool = False  # set from any thread; honoured at the next step
    slot: int = -1
    n_past: int = 0  # tokens of this sequence already in the KV cache
    pending: int = -1  # sampled token not yet decoded (-1 while the prompt is processed)
    n_out: int = 0
    generated: list[int] = field(default_factory=list)  # token ids, stop token included
    sampler: TokenPicker | None = None  # None: the plain arg-max
    admitted: float = 0.0  # monotonic time the job got its slot
    prompt_lps: list[TokenLogprob] = field(default_factory=list)  # until the first chunk is out
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )


# Tokens of the timed prompt at start (``prompt_rate``): long enough for the matrix kernels a
# real question's prompt runs, short enough to cost a fraction of a second on a slow CPU.
_RATE_TOKENS = 128

# Sequences in the timed decode step (``step_seconds``): a grounded answer and its closed-book
# guard decode side by side. A prompt-only step of at least ``_RATE_MIN`` tokens updates
# ``prompt_rate`` (shorter ones are mostly fixed cost per step).
_STEP_SEQS = 2
_RATE_MIN = 64
# Weight of the newest timing in the running figures.
_NEWEST = 0.25

_AGED = 1.0  # seconds a prompt may be passed over by shorter ones before it goes first

# Prompt tokens of prompt-logprobs requests decoded per step (all of them together): each needs
# its logits row (1 MB for a 262k vocabulary), and llama.cpp keeps its output buffer at the
# largest size it was ever asked for.
_LOGIT_ROWS = 128

# What a step hands back per job: a chunk, or an exception that ends the request.
Output = tuple[Job, TokenChunk | BaseException]


class Engine:
    def __init__(
        self,
        model_path: Path,
        *,
        adapter_path: Path | None,
        n_parallel: int,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        stop_texts: list[str],
        deliver: Callable[[list[Output]], None],
        kv_unified: bool = False,
        swa_full: bool = False,
        verbose: bool = False,
        repack: bool = True,
        batch_invariant: bool = False,
        n_gpu_layers: int = 0,
    ):
        self.n_parallel = n_parallel
        self.batch_invariant = batch_invariant
        # Prompts are cut into chunks of ``chunk`` tokens at fixed offsets, whatever else runs:
        # the same prompt is then computed the same way alone or in company (at temperature 0
        # the answer does not depend on the load). A step holds the decode tokens + chunks.
        self.chunk = max(1, n_batch)
        self.n_batch = self.chunk + n_parallel
        self._deliver = deliver
        _init_llama_backend(verbose)

        # repack: llama.cpp's weight repacking, decided by ``llama_mode`` (off where it crashes)
        # n_gpu_layers: layers on a GPU, decided by ``offload`` (0 on a CPU build)
        mparams = model_params(repack, n_gpu_layers)
        self.n_gpu_layers = int(mparams.n_gpu_layers)  # as llama.cpp was asked (reported)
        self.model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self.model:
            raise BackendError(f"llama.cpp could not load the model {model_path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self._pieces: dict[int, bytes] = {}  # token (-1 - token: special form) -> bytes
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        train_ctx = llama_cpp.llama_model_n_ctx_train(self.model)
        self.n_ctx_seq = min(n_ctx, train_ctx) if train_ctx > 0 else n_ctx

        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = self.n_ctx_seq * n_parallel
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = self.n_batch
        cparams.n_seq_max = n_parallel
        threads = n_threads or physical_cores()
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.kv_unified = kv_unified
        cparams.swa_full = swa_full
        cparams.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            llama_cpp.llama_model_free(self.model)
            raise BackendError("llama.cpp could not create a context (out of memory?)")
        self.n_ctx_seq = min(self.n_ctx_seq, llama_cpp.llama_n_ctx_seq(self.ctx))
        self.mem = llama_cpp.llama_get_memory(self.ctx)

        self.adapter = None
        if adapter_path is not None:
            try:
                self.adapter = apply_lora(self.model, self.ctx, adapter_path)
            except ProbeFailed as exc:
                self.close()
                raise BackendError(str(exc)) from None

        self.n_swa = max(0, llama_cpp.llama_model_n_swa(self.model))
        # Tokens whose KV a free slot still holds from its last request: a new request whose
        # prompt starts the same (the next turn of a chat resends the whole history) picks
        # that slot and skips the shared prefix.
        self._kv_tokens: list[list[int]] = [[] for _ in range(n_parallel)]
        self.prefill_tokens = 0  # prompt tokens decoded
        self.reused_tokens = 0  # prompt tokens found in a slot's cache instead
        self.stop_ids = self._special_stop_ids(stop_texts)
        self.batch: Batch | None = Batch(self.n_batch)
        self.samplers = Samplers(self.vocab, self.n_vocab, self.piece, self.n_ctx_seq)

        self._slots: list[Job | None] = [None] * n_parallel
        self._waiting: deque[Job] = deque()
        self._wake = threading.Condition()
        self._closing = False
        # Every llama_decode of this process runs on the engine thread, the warm-up included:
        # libgomp keeps a team of threads per thread that ever ran a parallel region, and a
        # second team left idle beside the one that computes made every step ~50 % slower on
        # 2 cores (docs/measurements/2026-12-08-serving.md).
        self._warmed = threading.Event()
        self._warm_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="llamacpp-engine", daemon=True)
        self._thread.start()
        self._warmed.wait()
        if self._warm_error is not None:
            self.close()
            raise self._warm_error

    def _warm_up(self) -> None:
        """One real decode in the mode that will serve, before the server says it is ready
        (a kernel this CPU cannot run fails here, not on a lawyer's first question)."""
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        token = bos if bos >= 0 else 0
        batch = self._batch()
        batch.clear()
        batch.add([token], 0, 0, all_logits=True, last_logits=True)
        rc = llama_cpp.llama_decode(self.ctx, batch.raw)
        llama_cpp.llama_memory_seq_rm(self.mem, 0, -1, -1)
        if rc != 0:
            raise BackendError(f"llama.cpp's test decode failed with code {rc}")
        # prompt tokens per second this machine reads: what grounding sizes its prompts by
        n = min(_RATE_TOKENS, self.chunk, self.n_ctx_seq - 1)
        took = self._median_decode(token, n, seqs=1) if n >= 8 else None
        self.prompt_rate = n / took if took else None
        # seconds of a decode step of two sequences, a token and a row of logits each: what a
        # grounded answer waits per token of the closed-book guard's opening beside it
        self.step_seconds = self._median_decode(token, 1, seqs=min(_STEP_SEQS, self.n_parallel))

    def _median_decode(self, token: int, n: int, seqs: int, repeats: int = 3) -> float | None:
        """Seconds of one ``llama_decode`` of ``n`` tokens in each of ``seqs`` sequences (after
        the test decode paged the weights in; the median of ``repeats``: one timing alone varies
        by ±10 %), the cache emptied after each; None if llama.cpp refuses it."""
        batch = self._batch()
        times = []
        for _ in range(repeats):
            batch.clear()
            for seq in range(seqs):
                batch.add([token] * n, 0, seq, all_logits=False, last_logits=True)
            start = time.perf_counter()
            rc = llama_cpp.llama_decode(self.ctx, batch.raw)
            took = time.perf_counter() - start
            llama_cpp.llama_memory_seq_rm(self.mem, -1, -1, -1)
            if rc != 0 or took <= 0:
                return None
            times.append(took)
        return sorted(times)[len(times) // 2]

    def _timed(self, work: list[tuple[Job, list[int]]], took: float) -> None:
        """Keep ``prompt_rate`` and ``step_seconds`` current from the steps that measure them
        (a prompt-only step of ``_RATE_MIN`` tokens or more; a step of ``_STEP_SEQS`` next
        tokens): the figures taken at start follow the machine's load, in both directions."""
        if took <= 0:
            return
        if all(job.pending < 0 for job, _ in work):
            n = sum(len(tokens) for _, tokens in work)
            if n >= _RATE_MIN:
                self.prompt_rate = _moving(self.prompt_rate, n / took)
        elif len(work) == min(_STEP_SEQS, self.n_parallel) and all(
            job.pending >= 0 for job, _ in work
        ):
            self.step_seconds = _moving(self.step_seconds, took)

    def _batch(self) -> Batch:
        if self.batch is None:
            raise BackendError("the engine is closed")
        return self.batch

    # -- called from any thread -------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_bos, True)
        if n < 0:  # cannot happen with one token per byte plus BOS, but be exact
            buf = (llama_cpp.llama_token * -n)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, -n, add_bos, True)
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        """The bytes ``token`` stands for (special tokens render as nothing unless ``special``).
        Remembered per token: every generated token asks, and the answer never changes."""
        key = -1 - token if special else token
        data = self._pieces.get(key)
        if data is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
            if n < 0:  # longer than the buffer
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
            data = self._pieces[key] = buf.raw[:n]
        return data

    def prompt_piece(self, token: int) -> bytes:
        """A prompt token's bytes as the prompt's text has them: control tokens written in the
        prompt (``<start_of_turn>``) as their text, the BOS the tokenizer adds as nothing."""
        if token == llama_cpp.llama_vocab_bos(self.vocab) and llama_cpp.llama_vocab_get_add_bos(
            self.vocab
        ):
            return b""
        return self.piece(token, special=True)

    def check(self, params: SamplingParams) -> None:
        """Refuse (``InvalidRequest``) a grammar llama.cpp cannot parse or a logit bias naming
        a token outside the vocabulary, before the request is queued."""
        for token, _ in params.logit_bias:
            if not 0 <= token < self.n_vocab:
                raise InvalidRequest(
                    f"logit_bias: token {token} is not in the vocabulary (0..{self.n_vocab - 1})",
                    "logit_bias",
                )
        if params.grammar is not None:
            sampler = grammar_sampler(self.vocab, params.grammar, params.grammar_triggers)
            llama_cpp.llama_sampler_free(sampler)

    def submit(self, job: Job) -> None:
        with self._wake:
            if self._closing:
                raise BackendError("the engine is shutting down")
            self._waiting.append(job)
            self._wake.notify()

    def cancel(self, job: Job) -> None:
        with self._wake:
            job.cancelled = True
            self._wake.notify()

    @property
    def running(self) -> int:
        return sum(1 for j in self._slots if j is not None)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self, error: BaseException | None = None) -> None:
        """Stop the thread, end every open request with ``error``, free llama.cpp objects."""
        if hasattr(self, "_thread"):
            with self._wake:
                self._closing = True
                self._close_error = error or BackendError("the engine shut down")
                self._wake.notify()
            self._thread.join()
        if getattr(self, "samplers", None) is not None:
            self.samplers.close()
        batch = getattr(self, "batch", None)
        if batch is not None:
            batch.free()
            self.batch = None
        if getattr(self, "ctx", None):
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "adapter", None):
            llama_cpp.llama_adapter_lora_free(self.adapter)
            self.adapter = None
        if getattr(self, "model", None):
            llama_cpp.llama_model_free(self.model)
            self.model = None

    # -- engine thread ------------------------------------------------------------------------
    def _special_stop_ids(self, stop_texts: list[str]) -> set[int]:
        """Special tokens whose text is a stop string (e.g. ``<end_of_turn>``): generation ends
        at the token itself, so the stop text never has to be matched in the output."""
        ids = set()
        special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        for text in stop_texts:
            toks = self.tokenize(text, add_bos=False)
            if len(toks) == 1 and llama_cpp.llama_vocab_get_attr(self.vocab, toks[0]) & special:
                ids.add(toks[0])
        return ids

    def _run(self) -> None:
        try:
            self._warm_up()
        except BaseException as exc:
            self._warm_error = exc
            return
        finally:
            self._warmed.set()
        while True:
            with self._wake:
                while not self._closing and not self._waiting and self.running == 0:
                    self._wake.wait()
                if self._closing:
                    break
            out: list[Output] = []
            try:
                self._step(out)
            except BaseException as exc:  # a failed decode ends the requests, not the server
                for i, job in enumerate(self._slots):
                    if job is not None:
                        out.append((job, exc))
                        self._free(i, keep=False)
            if out:
                self._deliver(out)
        out = [(j, self._close_error) for j in self._slots if j is not None]
        out += [(j, self._close_error) for j in self._waiting]
        self._waiting.clear()
        for i, job in enumerate(self._slots):
            if job is not None:
                self._free(i, keep=False)
        if out:
            self._deliver(out)

    def _free(self, slot: int, keep: bool) -> None:
        """End the slot's request; ``keep`` its KV cells for prefix reuse, else clear them."""
        job = self._slots[slot]
        self._slots[slot] = None
        # a prompt-logprobs prompt was computed in _LOGIT_ROWS pieces, not in whole chunks
        if keep and job is not None and not job.params.prompt_logprobs:
            # Only whole prompt chunks can be reused: they were computed exactly as a fresh
            # request computes them. Generated tokens (decoded one at a time) and a prompt's
            # last partial chunk round differently from the same tokens read as one chunk, so
            # reusing them would change a temperature-0 answer.
            whole = len(job.tokens) // self.chunk * self.chunk
            self._kv_tokens[slot] = job.tokens[:whole]
        else:
            self._kv_tokens[slot] = []
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
        if job is not None and job.sampler is not None:
            job.sampler.free()
            job.sampler = None

    def _admit(self, out: list[Output]) -> None:
        now = time.monotonic()
        for i, job in enumerate(self._slots):
            if job is None:
                continue
            if job.cancelled:
                self._free(i, keep=False)
            elif job.deadline is not None and now > job.deadline:
                out.append((job, DeadlineExceeded("the request ran past its deadline")))
                self._free(i, keep=False)
        # The queue is taken out under the lock and handled outside it: making a request's
        # sampler takes time, and ``submit`` on the event loop must not wait for it.
        with self._wake:
            waiting, self._waiting = self._waiting, deque()
        keep: deque[Job] = deque()
        for job in waiting:
            if job.cancelled:
                continue
            if job.deadline is not None and now > job.deadline:
                out.append((job, DeadlineExceeded("the request waited past its deadline")))
                continue
            free = [i for i, j in enumerate(self._slots) if j is None]
            if not free:
                keep.append(job)
                continue
            self._place(job, free)
            job.admitted = now
            job.sampler = self.samplers.make(job.params, job.seed)
            self._slots[job.slot] = job
        with self._wake:  # those still waiting go before any that came meanwhile
            keep.extend(self._waiting)
            self._waiting = keep

    def _place(self, job: Job, free: list[int]) -> None:
        """Put ``job`` in the free slot whose cached tokens share the longest prefix with its
        prompt, drop the rest of that slot's cache and start after the shared prefix.
        A prompt-logprobs request needs the logits of every prompt position: it starts from
        nothing, in an empty slot if there is one (other slots keep their caches)."""
        if job.params.prompt_logprobs:
            slot = next((i for i in free if not self._kv_tokens[i]), free[0])
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
            self._kv_tokens[slot] = []
            job.slot, job.n_past = slot, 0
            return
        shared = [_common_prefix(self._kv_tokens[i], job.tokens) for i in free]
        best = max(range(len(free)), key=lambda k: (shared[k], not self._kv_tokens[free[k]]))
        slot, n = free[best], min(shared[best], len(job.tokens) - 1)  # last token: logits
        n = n // self.chunk * self.chunk  # restart at a chunk boundary, as a fresh prompt does
        if n > 0 and self.n_swa:
            # sliding-window layers keep only recent cells: reuse needs the window before n
            if llama_cpp.llama_memory_seq_pos_min(self.mem, slot) > max(0, n - self.n_swa):
                n = 0
        if n == 0 or not llama_cpp.llama_memory_seq_rm(self.mem, slot, n, -1):
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
            n = 0
        self._kv_tokens[slot] = []
        job.slot, job.n_past = slot, n
        if n == 0:
            job.n_past = n = self._copy_running(job, slot)
        self.reused_tokens += n

    def _copy_running(self, job: Job, slot: int) -> int:
        """Copy (``llama_memory_seq_cp``) the whole prompt chunks a running sequence has
        already computed for the same prompt (the other choices of an ``n > 1`` request) into
        the empty ``slot``; return how many tokens were copied (0: none)."""
        best, src = 0, -1
        for other in self._slots:
            if other is None or other is job or other.params.prompt_logprobs:
                continue
            done = min(other.n_past, len(other.tokens), len(job.tokens) - 1)
            n = _common_prefix(other.tokens[:done], job.tokens) // self.chunk * self.chunk
            if n > best:
                best, src = n, other.slot
        if best == 0:
            return 0
        if self.n_swa and llama_cpp.llama_memory_seq_pos_min(self.mem, src) > max(
            0, best - self.n_swa
        ):
            return 0  # the window before ``best`` is gone from the source's sliding layers
        # llama.cpp copies between per-sequence KV buffers only whole: copy, then cut at best
        llama_cpp.llama_memory_seq_cp(self.mem, src, slot, -1, -1)
        if not llama_cpp.llama_memory_seq_rm(self.mem, slot, best, -1):
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
            return 0
        return best

    def _end_ids(self) -> list[int]:
        """End-of-generation tokens (EOS, EOT, special stop tokens such as <end_of_turn>)."""
        ids = getattr(self, "_end_token_ids", None)
        if ids is None:
            eog = (llama_cpp.llama_vocab_eos(self.vocab), llama_cpp.llama_vocab_eot(self.vocab))
            ids = sorted({t for t in eog if t >= 0} | self.stop_ids)
            self._end_token_ids = ids
        return ids

    def _step(self, out: list[Output]) -> None:
        self._admit(out)
        running = [j for j in self._slots if j is not None]
        # Prompt chunks, up to ``chunk`` tokens a step: shortest remaining prompt first
        # (the mean wait for a first token is lowest), but a prompt that has waited longer
        # than ``_AGED`` goes first, oldest first, so a long one is never starved by short ones.
        now = time.monotonic()
        prompts = sorted(
            (j for j in running if j.pending < 0),
            key=lambda j: (
                (0, j.admitted, 0)
                if now - j.admitted > _AGED
                else (1, len(j.tokens) - j.n_past, j.admitted)
            ),
        )
        room = self.chunk
        rows = _LOGIT_ROWS  # prompt positions with logits this step, all such prompts together
        chunks: list[tuple[Job, list[int]]] = []
        for job in prompts:
            end = min(len(job.tokens), (job.n_past // self.chunk + 1) * self.chunk)
            if job.params.prompt_logprobs:
                end = min(end, job.n_past + rows)
            todo = job.tokens[job.n_past : end]
            if todo and len(todo) <= room:  # else a later step takes it
                chunks.append((job, todo))
                room -= len(todo)
                rows -= len(todo) if job.params.prompt_logprobs else 0
        # the next token of every generating sequence, then the prompt chunks
        work = [(job, [job.pending]) for job in running if job.pending >= 0] + chunks
        if self.batch_invariant:
            # llama.cpp's CPU kernels round differently with the batch's size and layout (the
            # repacked gemm vs gemv paths, tiled matmuls): one sequence per llama_decode makes
            # every answer independent of what else runs, at the cost of batching.
            for item in work:
                self._decode([item], out)
        elif work:
            self._decode(work, out)

    def _decode(self, work: list[tuple[Job, list[int]]], out: list[Output]) -> None:
        """One ``llama_decode`` over ``work`` (each job's tokens), then sample where due."""
        batch = self._batch()
        batch.clear()
        sample_at: list[tuple[Job, int]] = []
        rows_at: list[tuple[Job, int, int]] = []  # prompt logprobs: (job, batch index, position)
        for job, tokens in work:
            prompt = job.pending < 0
            every = prompt and job.params.prompt_logprobs
            if prompt:
                self.prefill_tokens += len(tokens)
            if every:
                rows_at.append((job, batch.n, job.n_past))
            # a prompt needs logits only for its last token (or all, when asked)
            last = not prompt or job.n_past + len(tokens) == len(job.tokens)
            idx = batch.add(tokens, job.n_past, job.slot, all_logits=every, last_logits=last)
            if last:
                sample_at.append((job, idx))
            job.n_past += len(tokens)
        start = time.perf_counter()
        rc = llama_cpp.llama_decode(self.ctx, batch.raw)
        if rc != 0:
            raise BackendError(f"llama_decode failed with code {rc}")
        self._timed(work, time.perf_counter() - start)
        for job, idx, pos in rows_at:
            self._prompt_logprobs(job, idx, pos)
        for job, idx in sample_at:
            self._sample(job, idx, out)

    def _prompt_logprobs(self, job: Job, idx: int, pos: int) -> None:
        """The log-probability of each prompt token decoded from batch index ``idx`` (prompt
        position ``pos``) on, read from the row before it; the first token gets None."""
        if pos == 0:
            data = self.prompt_piece(job.tokens[0])
            job.prompt_lps.append(TokenLogprob(data.decode("utf-8", "replace"), data, None))
        targets = job.tokens[pos + 1 : job.n_past + 1]  # the last prompt row: sampled
        if not targets:
            return
        first = llama_cpp.llama_get_logits_ith(self.ctx, idx)
        last = llama_cpp.llama_get_logits_ith(self.ctx, idx + len(targets) - 1)
        step = self.n_vocab * ctypes.sizeof(ctypes.c_float)
        start = ctypes.cast(first, ctypes.c_void_p).value or 0
        if (ctypes.cast(last, ctypes.c_void_p).value or 0) - start == step * (len(targets) - 1):
            rows = np.ctypeslib.as_array(first, shape=(len(targets), self.n_vocab))
        else:  # llama.cpp stores outputs in batch order; read row by row if it ever does not
            rows = np.stack(
                [
                    np.ctypeslib.as_array(
                        llama_cpp.llama_get_logits_ith(self.ctx, idx + i), (self.n_vocab,)
                    )
                    for i in range(len(targets))
                ]
            )
        job.prompt_lps += next_token_logprobs(
            rows, targets, job.params.top_logprobs or 0, self.prompt_piece, self.piece
        )

    def _chunk(
        self,
        job: Job,
        text: str,
        finish_reason: str | None = None,
        logprobs: tuple[TokenLogprob, ...] = (),
    ) -> TokenChunk:
        """The job's next output chunk; the first carries the prompt's logprobs."""
        lps, job.prompt_lps = tuple(job.prompt_lps), []
        return TokenChunk(
            text, len(job.tokens), job.n_out, finish_reason, logprobs, prompt_logprobs=lps
        )

    def _sample(self, job: Job, idx: int, out: list[Output]) -> None:
        if job.max_new == 0:  # the prompt only (scoring it): nothing is generated
            out.append((job, self._chunk(job, "", finish_reason="length")))
            self._free(job.slot, keep=True)
            return
        top = job.params.top_logprobs
        # the row is read once, and changed in place: end bias, then the sampler's stages
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, idx), (self.n_vocab,))
        # the model's own distribution, read before any bias or sampler touches the logits
        lps = token_logprobs(row, top) if top is not None else None
        late = job.n_out - job.params.end_bias_after
        if job.params.end_bias > 0 and late >= 0:
            row[self._end_ids()] += job.params.end_bias * (late + 1)
        if job.sampler is None:
            token = int(row.argmax())
        else:
            token = job.sampler.pick(row, self.ctx, idx)
        job.generated.append(token)
        if llama_cpp.llama_vocab_is_eog(self.vocab, token) or token in self.stop_ids:
            text = job.decoder.decode(b"", final=True)
            out.append((job, self._chunk(job, text, finish_reason="stop")))
            self._free(job.slot, keep=True)
            return
        job.n_out += 1
        # Bytes, not text: a character may span tokens. The incremental decoder holds an
        # incomplete sequence back until its last byte arrives (invalid bytes become U+FFFD).
        data = self.piece(token)
        text = job.decoder.decode(data)
        logprobs = () if lps is None else (lps(token, self.piece),)
        if job.n_out >= job.max_new:
            text += job.decoder.decode(b"", final=True)
            out.append((job, self._chunk(job, text, finish_reason="length", logprobs=logprobs)))
            self._free(job.slot, keep=True)
            return
        job.pending = token
        out.append((job, self._chunk(job, text, logprobs=logprobs)))


def _moving(old: float | None, new: float) -> float:
    return new if not old else (1 - _NEWEST) * old + _NEWEST * new


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
