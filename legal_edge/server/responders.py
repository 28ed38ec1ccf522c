"""The two ways a started generation request is answered: one JSON object, or a stream of
server-sent events. Each ends the request's accounting exactly once, whatever way it ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response
from litestar.response import Stream

from legal_edge.server import choices
from legal_edge.server.accounting import RequestAccount
from legal_edge.server.generation import Generation, map_backend_error
from legal_edge.server.shapes import SSE_DONE, Shape, choice_chunk, completion, sse, usage_chunk

CLIENT_GONE = 499  # nginx's status for a client that closed the connection


async def respond_json(
    request: Request[Any, Any, Any], account: RequestAccount, gens: list[Generation], shape: Shape
) -> Response[Any]:
    """Wait for every choice, then answer one completion object."""
    try:
        texts = await _collect_or_cancel(request, gens)
    except asyncio.CancelledError:
        account.done(CLIENT_GONE, gens)
        raise
    except Exception as exc:
        err = map_backend_error(exc)
        account.done(err.status, gens)
        raise err from None
    try:
        payload = completion(shape, account.runtime, texts, gens)
    except Exception as exc:
        err = map_backend_error(exc)
        account.done(err.status, gens)
        raise err from None
    account.done(200, gens, texts[0])
    return Response(payload, headers=account.headers(gens))


def respond_stream(account: RequestAccount, gens: list[Generation], shape: Shape) -> Stream:
    """Answer as server-sent events: the choices' chunks as they come, then ``[DONE]``."""
    return Stream(
        _events(account, gens, shape),
        media_type="text/event-stream",
        headers={**account.headers(gens), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    account: RequestAccount, gens: list[Generation], shape: Shape
) -> AsyncIterator[bytes]:
    rt, body = account.runtime, account.body
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    status = 200
    parts: list[str] = []  # the first choice's answer, kept for feedback when the store keeps text
    try:
        for i in range(len(gens)):
            yield sse(choice_chunk(shape, rt, gens, i, None))
        ended = 0
        extensions: dict[str, Any] = {}
        async for i, delta in choices.merged(gens):
            if delta.finish_reason is None:
                if i == 0:
                    parts.append(delta.text)
                yield sse(choice_chunk(shape, rt, gens, i, delta))
                continue
            ended += 1
            last = choice_chunk(shape, rt, gens, i, delta)
            # citations and grounding: on the last finish chunk and the usage chunk
            extensions = choices.extensions(gens) if ended == len(gens) else {}
            last.update(extensions)
            yield sse(last)
        if include_usage:
            yield sse(usage_chunk(shape, rt, gens, extensions))
        yield SSE_DONE
    except asyncio.CancelledError:
        status = CLIENT_GONE
        raise
    except Exception as exc:
        err = map_backend_error(exc)
        status = err.status
        yield sse(err.body())
        yield SSE_DONE
    finally:
        await choices.close_all(gens)
        account.done(status, gens, "".join(parts))


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    """Return when the client goes away (the body has been read, so receive() only waits)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _collect_or_cancel(request: Request[Any, Any, Any], gens: list[Generation]) -> list[str]:
    """Run a non-streaming request's choices; a client disconnect cancels them, frees slots."""
    work = asyncio.ensure_future(choices.collect_all(gens))
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            await choices.close_all(gens)
            raise asyncio.CancelledError("client disconnected")
    return work.result()
