"""The llama.cpp continuous-batching backend on a real (tiny) GGUF."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from legal_edge.backends.base import (
    Backend,
    BackendNotReady,
    BackendOptions,
    ContextLengthExceeded,
    DeadlineExceeded,
    GenerationRequest,
    QueueFull,
    SamplingParams,
    TokenChunk,
)
from legal_edge.models.manifest import gguf_manifest
from legal_edge.prompts import GEMMA_CHAT_TEMPLATE, render_chat

llama_cpp = pytest.importorskip("llama_cpp")

from legal_edge.backends.llamacpp.backend import LlamaCppBackend  # noqa: E402
from legal_edge.backends.llamacpp.engine import Engine, Job  # noqa: E402

PROMPTS = [
    "the court held that",
    render_chat(GEMMA_CHAT_TEMPLATE, [{"role": "user", "content": "劳动合同法规定了什么？"}]),
    "what is the legal basis for the claim? the answer is in article one of the civil code.",
    "被告应当承担违约责任",
    "legal question: may a tenant terminate the lease early?",
]
# Greedy, the fixture model runs this prompt to any length (no end-of-turn within 2000 tokens):
# about a second of work, so a request with it holds its slot while a test looks on.
HOG = PROMPTS[2]


def run_with(
    model: Path, scenario: Callable[[LlamaCppBackend], Awaitable[Any]], **options: Any
) -> Any:
    """Start a backend on ``model``, run ``scenario`` against it, always stop it."""
    opts = {"n_parallel": 4, "n_ctx": 256, "n_threads": 1, **options}

    async def main() -> Any:
        backend = LlamaCppBackend(gguf_manifest(model), BackendOptions(**opts))
        await backend.start()
        try:
            return await scenario(backend)
        finally:
            await backend.stop()

    return asyncio.run(main())


def request(prompt: str, max_tokens: int = 32, **params: Any) -> GenerationRequest:
    deadline = params.pop("deadline", None)
    params.setdefault("temperature", 0.0)
    return GenerationRequest(
        "test", prompt, SamplingParams(max_tokens=max_tokens, **params), deadline=deadline
    )


async def collect(backend: LlamaCppBackend, req: GenerationRequest) -> list[TokenChunk]:
    return [chunk async for chunk in backend.generate(req)]


def text_of(chunks: list[TokenChunk]) -> str:
    return "".join(c.text for c in chunks)


def test_implements_the_backend_protocol(tiny_gguf: Path) -> None:
    backend = LlamaCppBackend(gguf_manifest(tiny_gguf), BackendOptions())
    assert isinstance(backend, Backend)
    assert not backend.ready


@pytest.mark.parametrize(
    "n_batch, invariant", [(512, False), (7, False), (7, True)]
)  # 7: prompts split into chunks mixed with decode; invariant: one sequence per llama_decode
def test_batched_outputs_equal_single_outputs_at_temperature_zero(
    tiny_gguf: Path, n_batch: int, invariant: bool
) -> None:
    async def scenario(backend: LlamaCppBackend) -> tuple[list[Any], list[Any]]:
        alone = [await collect(backend, request(p)) for p in PROMPTS]
        together = await asyncio.gather(*(collect(backend, request(p)) for p in PROMPTS))
        return alone, list(together)

    alone, together = run_with(tiny_gguf, scenario, n_batch=n_batch, batch_invariant=invariant)
    assert [text_of(c) for c in together] == [text_of(c) for c in alone]
    assert [c[-1] for c in together] == [c[-1] for c in alone]
    assert len({text_of(c) for c in alone}) == len(PROMPTS)  # the prompts matter
    for chunks in alone:
        last = chunks[-1]
        assert last.finish_reason in ("stop", "length")
        assert all(c.finish_reason is None for c in chunks[:-1])
        assert [c.completion_tokens for c in chunks[:-1]] == list(range(1, len(chunks)))
        if last.finish_reason == "length":
            assert last.completion_tokens == 32


def test_finishes_with_stop_at_end_of_generation_token(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> list[TokenChunk]:
        return [(await collect(backend, request(p, 64)))[-1] for p in ["合同法规定", *PROMPTS]]

    finals = run_with(tiny_gguf, scenario)
    stopped = [c for c in finals if c.finish_reason == "stop"]
    assert stopped, "the fixture model ends at least one of these prompts with <eos>/<eot>"
    assert all(c.completion_tokens < 64 for c in stopped)


def test_special_stop_strings_become_stop_tokens(tiny_gguf: Path) -> None:
    engine = Engine(
        tiny_gguf,
        adapter_path=None,
        n_parallel=1,
        n_ctx=64,
        n_batch=64,
        n_threads=1,
        stop_texts=["<start_of_turn>", "the", "<end_of_turn>"],
        deliver=lambda out: None,
    )
    try:
        assert engine.stop_ids == {4, 5}  # the special tokens; plain text is the server's job
    finally:
        engine.close()


def test_the_engine_times_a_prompt_when_it_starts(tiny_gguf: Path) -> None:
    kwargs = dict(adapter_path=None, n_parallel=2, n_threads=1, stop_texts=[])
    finished: list[Any] = []
    done = threading.Condition()

    def deliver(out: list[Any]) -> None:
        with done:
            finished.extend(j for j, i in out if isinstance(i, TokenChunk) and i.finish_reason)
            done.notify_all()

    def run(*prompts: list[int]) -> None:
        finished.clear()
        for tokens in prompts:
            job = Job(
                tokens=tokens, params=SamplingParams(temperature=0), seed=0, max_new=16,
                deadline=None, sink=None,
            )  # fmt: skip
            engine.submit(job)
        with done:
            assert done.wait_for(lambda: len(finished) == len(prompts), 30)

    engine = Engine(tiny_gguf, n_ctx=256, n_batch=256, deliver=deliver, **kwargs)
    try:
        # tokens per second of a real prompt, seconds of a real two-sequence decode step:
        # positive, and nothing left in the cache
        assert engine.prompt_rate is not None and engine.prompt_rate > 0
        assert engine.step_seconds is not None and 0 < engine.step_seconds < 5
        for seq in (0, 1):
            assert llama_cpp.llama_memory_seq_pos_max(engine.mem, seq) == -1
        # the figures follow what served steps take (a server started under load does not
        # keep a small budget): a prompt-only step of 96 tokens, then two answers side by side
        engine.prompt_rate, engine.step_seconds = 1e-3, 1e3
        tokens = engine.tokenize(" ".join([HOG] * 6))[:96]
        run(tokens)
        assert engine.prompt_rate > 1.0 and engine.step_seconds == 1e3
        run(tokens[:40], tokens[:50])
        assert engine.step_seconds < 1e3
    finally:
        engine.close()
    # a context too short to time a prompt in: no figure rather than a wrong one
    engine = Engine(tiny_gguf, n_ctx=8, n_batch=8, deliver=lambda out: None, **kwargs)
    try:
        assert engine.prompt_rate is None
    finally:
        engine.close()


def test_every_decode_runs_on_the_engine_thread(
    tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up decodes too: a second thread that ever ran llama.cpp's OpenMP kernels keeps
    its own idle team, which slowed every served step by about half on 2 cores."""
    from legal_edge.backends.llamacpp import engine as engine_module

    threads: list[threading.Thread] = []
    decode = llama_cpp.llama_decode

    def recorded(ctx: Any, batch: Any) -> int:
        threads.append(threading.current_thread())
        return int(decode(ctx, batch))

    monkeypatch.setattr(engine_module.llama_cpp, "llama_decode", recorded)
    finished = threading.Event()
    engine = Engine(
        tiny_gguf, adapter_path=None, n_parallel=2, n_ctx=128, n_batch=64, n_threads=1,
        stop_texts=[], deliver=lambda out: finished.set(),
    )  # fmt: skip
    try:
        assert threads, "the warm-up decoded"
        engine.submit(
            Job(tokens=engine.tokenize(PROMPTS[0]), params=SamplingParams(temperature=0),
                seed=0, max_new=1, deadline=None, sink=None)
        )  # fmt: skip
        assert finished.wait(30)
        assert set(threads) == {engine._thread} and engine._thread is not threading.main_thread()
    finally:
        engine.close()


def test_a_failed_warm_up_refuses_to_start(
    tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from legal_edge.backends.base import BackendError
    from legal_edge.backends.llamacpp import engine as engine_module

    monkeypatch.setattr(engine_module.llama_cpp, "llama_decode", lambda ctx, batch: 1)
    with pytest.raises(BackendError, match="test decode failed with code 1"):
        Engine(
            tiny_gguf, adapter_path=None, n_parallel=1, n_ctx=64, n_batch=64, n_threads=1,
            stop_texts=[], deliver=lambda out: None,
        )  # fmt: skip


def test_seed_reproduces_a_sampled_completion(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> list[str]:
        reqs = [request(PROMPTS[0], 48, temperature=1.0, seed=s) for s in (7, 7, 8)]
        runs = [text_of(await collect(backend, r)) for r in reqs]
        runs.append(text_of((await asyncio.gather(*(collect(backend, r) for r in reqs)))[0]))
        return runs

    first, again, other, batched = run_with(tiny_gguf, scenario)
    assert first == again == batched
    assert first != other


def test_queue_full_beyond_running_plus_waiting(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> None:
        running = backend.generate(request(HOG, 2000))
        await running.__anext__()  # holds the only slot
        waiting = asyncio.create_task(collect(backend, request(PROMPTS[1], 4)))
        await asyncio.sleep(0)  # the waiting request is admitted to the queue
        assert backend.stats() == {"running": 1, "waiting": 1}
        with pytest.raises(QueueFull) as exc:
            await collect(backend, request(PROMPTS[2], 4))
        assert exc.value.retry_after == 3.0
        await running.aclose()  # frees the slot: the waiting request now runs to the end
        assert (await asyncio.wait_for(waiting, 10))[-1].finish_reason is not None

    run_with(tiny_gguf, scenario, n_parallel=1, n_ctx=2048, max_queue=1, queue_timeout_s=3.0)


def test_deadline_ends_a_running_request(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> list[TokenChunk]:
        got: list[TokenChunk] = []
        with pytest.raises(DeadlineExceeded):
            async for chunk in backend.generate(
                request(HOG, 2000, deadline=time.monotonic() + 0.1)
            ):
                got.append(chunk)
        assert backend.stats()["running"] == 0  # the deadline freed the sequence
        return got

    chunks = run_with(tiny_gguf, scenario, n_ctx=2048)
    # ended by the deadline: started, never finished, far from its 2,000-token budget
    assert chunks and chunks[-1].finish_reason is None and chunks[-1].completion_tokens < 2000


def test_deadline_passed_while_waiting(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> None:
        hog = backend.generate(request(HOG, 2000))
        await hog.__anext__()
        late = request(PROMPTS[1], 4, deadline=time.monotonic() + 0.05)
        with pytest.raises(DeadlineExceeded):
            await collect(backend, late)  # never got the only slot
        await hog.aclose()

    run_with(tiny_gguf, scenario, n_parallel=1, n_ctx=2048)


def test_closing_the_stream_frees_the_sequence_at_once(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> None:
        import llama_cpp

        engine = backend._engine
        assert engine is not None
        stream = backend.generate(request(HOG, 2000))
        await stream.__anext__()
        assert llama_cpp.llama_memory_seq_pos_max(engine.mem, 0) >= 0
        await stream.aclose()
        for _ in range(100):  # freed at the engine's next step (milliseconds)
            if backend.stats()["running"] == 0:
                break
            await asyncio.sleep(0.01)
        assert backend.stats() == {"running": 0, "waiting": 0}
        assert llama_cpp.llama_memory_seq_pos_max(engine.mem, 0) == -1
        # task cancellation frees the slot as well
        task = asyncio.create_task(collect(backend, request(HOG, 2000)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        final = await asyncio.wait_for(collect(backend, request(PROMPTS[2], 8)), 5)
        assert final[-1].finish_reason is not None

    run_with(tiny_gguf, scenario, n_parallel=1, n_ctx=2048)


def test_context_limits(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> list[TokenChunk]:
        too_long = "the court held that " * 40
        assert backend.count_tokens(too_long) >= backend.context_length
        with pytest.raises(ContextLengthExceeded) as exc:
            await collect(backend, request(too_long, 8))
        assert exc.value.limit == backend.context_length == 64
        # a prompt that fits gets what is left of the context, then "length"
        fits = "the court held that " * 3
        chunks = await collect(backend, request(fits, 1000))
        left = 64 - backend.count_tokens(fits)
        assert chunks[-1].finish_reason in ("length", "stop")
        assert chunks[-1].completion_tokens <= left
        return chunks

    run_with(tiny_gguf, scenario, n_ctx=64)


def test_not_ready_before_start_and_after_stop(tiny_gguf: Path) -> None:
    async def scenario() -> None:
        opts = BackendOptions(n_threads=1, n_ctx=2048, extra={"drain_s": 0})
        backend = LlamaCppBackend(gguf_manifest(tiny_gguf), opts)
        with pytest.raises(BackendNotReady):
            await collect(backend, request("x"))
        await backend.start()
        assert backend.ready
        stream = backend.generate(request(HOG, 2000))
        await stream.__anext__()
        stopping = asyncio.create_task(backend.stop())
        with pytest.raises(BackendNotReady):  # a running stream ends cleanly, with a reason
            async for _ in stream:
                await asyncio.sleep(0.01)
        await stopping
        assert not backend.ready

    asyncio.run(scenario())


def test_event_loop_stays_responsive_while_decoding(tiny_gguf: Path) -> None:
    async def scenario(backend: LlamaCppBackend) -> list[float]:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        await asyncio.gather(*(collect(backend, request(p, 2000)) for p in (HOG, PROMPTS[4])))
        done.set()
        await tick
        return sorted(gaps)

    # Decoding in the loop's thread would leave a few huge gaps; the engine thread leaves the
    # loop ticking (the median, not the max: a shared CI box may deschedule us now and then).
    gaps = run_with(tiny_gguf, scenario, n_ctx=2048)
    assert len(gaps) >= 20
    assert gaps[len(gaps) // 2] < 0.05


def test_utf8_is_never_split_inside_a_character(tiny_gguf: Path) -> None:
    outputs: list[Any] = []
    finished = threading.Event()

    def deliver(out: list[Any]) -> None:
        outputs.extend(out)
        if any(isinstance(i, TokenChunk) and i.finish_reason for _, i in out):
            finished.set()

    engine = Engine(
        tiny_gguf,
        adapter_path=None,
        n_parallel=1,
        n_ctx=512,
        n_batch=64,
        n_threads=1,
        stop_texts=[],
        deliver=deliver,
    )
    try:
        # byte-fallback tokens: one Chinese character is three byte tokens
        text = "民法典第五百条🙂"
        ids = engine.tokenize(text, add_bos=False)
        assert len(ids) > len(text)
        job = Job(
            tokens=engine.tokenize(PROMPTS[0]),
            params=SamplingParams(temperature=0),
            seed=0,
            max_new=300,
            deadline=None,
            sink=None,
        )
        chunks = []
        for t in ids:
            chunks.append(job.decoder.decode(engine.piece(t)))
        assert "".join(chunks) == text and "\ufffd" not in "".join(chunks)
        # a real generation: streamed text == one-shot decoding of all generated bytes
        engine.submit(job)
        assert finished.wait(30)
        streamed = "".join(i.text for _, i in outputs)
        raw = b"".join(engine.piece(t) for t in job.generated)
        assert streamed == raw.decode("utf-8", errors="replace")
        assert any(b >= 0x80 for b in raw)  # the output did contain multi-byte sequences
    finally:
        engine.close()


def test_lora_adapter_from_the_manifest_changes_the_output(tiny_gguf: Path, tmp_path: Path) -> None:
    from legal_edge.models.manifest import ModelFile, file_entry
    from tests.fixtures.tiny_gguf import write_tiny_lora

    adapter = write_tiny_lora(tmp_path / "adapter.gguf")
    base = gguf_manifest(tiny_gguf)
    tuned = dataclasses.replace(
        base,
        directory=tmp_path,
        files=[
            ModelFile(role="model", path=str(tiny_gguf)),
            file_entry(tmp_path, adapter, "adapter"),
        ],
    )
    assert tuned.adapter_path == adapter.resolve()

    async def answer(backend: LlamaCppBackend) -> str:
        return text_of(await collect(backend, request(PROMPTS[2], 24)))

    async def both() -> tuple[str, str]:
        out = []
        for manifest in (base, tuned):
            backend = LlamaCppBackend(manifest, BackendOptions(n_threads=1, n_ctx=256))
            await backend.start()
            try:
                out.append(await answer(backend))
            finally:
                await backend.stop()
        return out[0], out[1]

    plain, adapted = asyncio.run(both())
    assert plain and adapted and plain != adapted


def test_a_file_that_is_not_a_model_fails_to_start(tmp_path: Path, tiny_gguf: Path) -> None:
    from legal_edge.backends.base import BackendError

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:4096])
    backend = LlamaCppBackend(gguf_manifest(tiny_gguf), BackendOptions(n_threads=1))
    backend.manifest = dataclasses.replace(
        backend.manifest,
        directory=tmp_path,
        files=[dataclasses.replace(backend.manifest.files[0], path="broken.gguf")],
    )
    with pytest.raises(BackendError, match="could not load the model"):
        asyncio.run(backend.start())


def test_a_finished_prompt_prefix_is_reused_with_identical_output(tiny_gguf: Path) -> None:
    turn1 = render_chat(GEMMA_CHAT_TEMPLATE, [{"role": "user", "content": "合同无效的情形？"}])
    turn2 = render_chat(
        GEMMA_CHAT_TEMPLATE,
        [
            {"role": "user", "content": "合同无效的情形？"},
            {"role": "assistant", "content": "W"},
            {"role": "user", "content": "劳动合同呢？"},
        ],
    )

    async def scenario(backend: LlamaCppBackend) -> tuple[str, int, int]:
        engine = backend._engine
        assert engine is not None
        await collect(backend, request(turn1, 8))
        before = engine.reused_tokens
        second = text_of(await collect(backend, request(turn2, 16)))
        return second, engine.reused_tokens - before, len(engine.tokenize(turn1))

    # 8-token chunks: the first turn's whole chunks are reused, its last partial chunk and the
    # generated answer are read again, exactly as a fresh request reads them
    reused_run, reused, n_turn1 = run_with(tiny_gguf, scenario, n_parallel=2, n_ctx=512, n_batch=8)

    async def fresh(backend: LlamaCppBackend) -> str:
        return text_of(await collect(backend, request(turn2, 16)))

    assert reused == n_turn1 // 8 * 8 > 0, (reused, n_turn1)
    assert reused_run == run_with(tiny_gguf, fresh, n_parallel=2, n_ctx=512, n_batch=8)


def test_a_short_prompt_is_not_queued_behind_a_long_one(tiny_gguf: Path) -> None:
    """Prompts are processed shortest first (8 prompt tokens a step here): a short question
    that arrives while a long prompt is being read gets its first token before the long one."""
    long_prompt = " ".join(["the court held that the contract was void"] * 80)
    order: list[str] = []

    async def first_token(backend: LlamaCppBackend, name: str, prompt: str) -> None:
        async for _ in backend.generate(request(prompt, 2)):
            order.append(name)
            return

    async def scenario(backend: LlamaCppBackend) -> tuple[int, int]:
        engine = backend._engine
        assert engine is not None
        long_task = asyncio.create_task(first_token(backend, "long", long_prompt))
        for _ in range(5000):  # until the long prompt is being read
            if engine.prefill_tokens or long_task.done():
                break
            await asyncio.sleep(0.001)
        await first_token(backend, "short", "合同无效的情形？")
        read = engine.prefill_tokens
        await long_task
        return read, len(engine.tokenize(long_prompt))

    read_when_short_answered, n_long = run_with(
        tiny_gguf, scenario, n_parallel=2, n_batch=8, n_ctx=2048
    )
    assert order == ["short", "long"]
    assert read_when_short_answered < n_long  # the long prompt was still being read
