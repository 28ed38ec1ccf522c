"""Hostile clients at the socket level: a huge body that is never allocated, and slow clients."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNK = 64 * 1024


@dataclass
class Outcome:
    status: int | None  # the HTTP status the server answered with, None when it only closed
    sent_bytes: int  # what the client got to send before the answer or the close
    seconds: float


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _status(data: bytes) -> int | None:
    if data.startswith(b"HTTP/1.1 "):
        return int(data[9:12])
    return None


def huge_body(
    url: str, path: str, total: int, *, chunked: bool, give_up_s: float = 60.0
) -> Outcome:
    """POST a ``total``-byte JSON-looking body made up on the fly (never held in memory), until
    the server answers or closes; ``chunked`` sends no Content-Length, so the server must count."""
    s = _connect(url)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {total}\r\n\r\n"
    s.sendall(head.encode())
    s.setblocking(False)
    block = b'{"model": "' + b"a" * (CHUNK - 11)
    frame = (b"%x\r\n" % len(block)) + block + b"\r\n" if chunked else block
    sent, t0, answer = 0, time.monotonic(), b""
    try:
        while sent < total and time.monotonic() - t0 < give_up_s:
            readable, writable, _ = select.select([s], [s], [], 1.0)
            if readable:
                answer = s.recv(4096)
                break
            if writable:
                try:
                    sent += s.send(frame)  # a partial frame is fine: the server stops reading
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break  # reset by the server
        if not answer:
            s.setblocking(True)
            s.settimeout(10)
            try:
                answer = s.recv(4096)
            except OSError:
                pass
    finally:
        s.close()
    return Outcome(_status(answer), sent, time.monotonic() - t0)


def slow_client(url: str, *, phase: str, byte_every_s: float, give_up_s: float) -> Outcome:
    """Send a chat request one byte at a time: its headers (``phase="headers"``) or, after
    whole headers, its body (``phase="body"``); stop when the server answers or closes."""
    s = _connect(url)
    s.settimeout(byte_every_s)
    body = b'{"model": "echo-model", "messages": [{"role": "user", "content": "hi"}]}' * 50
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n" % len(body)
    )
    if phase == "headers":
        slow = head + b"X-Padding: " + b"a" * 10_000
    else:
        s.sendall(head + b"\r\n")
        slow = body
    sent, t0, answer = 0, time.monotonic(), b""
    try:
        for byte in slow:
            if time.monotonic() - t0 > give_up_s:
                break
            try:
                s.sendall(bytes([byte]))
                sent += 1
            except OSError:
                break
            try:
                answer = s.recv(4096)
                break  # an answer, or b"" for a close
            except TimeoutError:
                continue
            except OSError:
                break
    finally:
        s.close()
    return Outcome(_status(answer), sent, time.monotonic() - t0)
