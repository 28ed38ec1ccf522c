"""A bound on slow clients (slowloris): a request's headers and body must arrive within
``client_read_timeout_s`` of its first byte, else 408 and the connection is closed.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the size of incomplete
headers (h11: 16 KiB), but not how long a client may take to send them or its body: one byte a
second holds a connection open for ever. This protocol (``uvicorn.run(http=...)``) starts a
timer when a request's first bytes arrive; when it fires and the request is still incomplete
(and no response has started), the client gets a 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY = json.dumps(
    {
        "error": {
            "message": "the request did not arrive in time (client_read_timeout_s)",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        }
    }
).encode()
RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def bounded_h11(read_timeout_s: float) -> type[H11Protocol]:
    """An h11 protocol class for uvicorn whose requests must arrive within ``read_timeout_s``."""

    class BoundedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._read_timer: asyncio.TimerHandle | None = None
            self._timer_after: Any = None  # the request before the one being timed (or None)

        def data_received(self, data: bytes) -> None:
            # bytes of a request not yet whole: the timer starts at its first byte (the
            # connection's first request, or the one after the last complete one)
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and (self._read_timer is None or self._timer_after is not self.cycle):
                if self._read_timer is not None:
                    self._read_timer.cancel()
                self._timer_after = self.cycle
                self._read_timer = self.loop.call_later(read_timeout_s, self._read_timed_out)
            super().data_received(data)

        def _read_timed_out(self) -> None:
            self._read_timer = None
            cycle = self.cycle
            if cycle is not None and (cycle.response_started or not cycle.more_body):
                return  # the request arrived whole, or the app already answers it
            if self.transport.is_closing():
                return
            self.transport.write(RESPONSE_408)
            self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None
            super().connection_lost(exc)

    return BoundedH11Protocol
