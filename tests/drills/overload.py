"""Overload drill: many more clients than ``n_parallel + max_queue``, streaming and not, at once.

Every request must either complete fully (the whole echoed answer; a stream ends with its
finish_reason and ``[DONE]``) or be refused with 503 + Retry-After before any token; health and
metrics keep answering; afterwards nothing is left running or waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.drills.apps import MODEL


@dataclass
class OverloadReport:
    sent: int = 0
    completed: int = 0
    refused: int = 0  # 503 with Retry-After, before any token
    cut_short: int = 0  # accepted, but the answer or the stream did not finish
    other: list[str] = field(default_factory=list)  # any other outcome (must stay empty)
    probe_ms: dict[str, list[float]] = field(default_factory=lambda: {"live": [], "metrics": []})
    rss_mb: list[float] = field(default_factory=list)
    after: dict[str, float] = field(default_factory=dict)  # gauges once the load is over

    def p99(self, what: str, q: float = 0.99) -> float:
        xs = sorted(self.probe_ms[what])
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "completed": self.completed,
            "refused": self.refused,
            "cut_short": self.cut_short,
            "other": self.other[:20],
            "health_live_p50_ms": round(self.p99("live", 0.5), 1),
            "health_live_p99_ms": round(self.p99("live"), 1),
            "load_average_1m": os.getloadavg()[0],
            "metrics_p99_ms": round(self.p99("metrics"), 1),
            "health_live_max_ms": round(max(self.probe_ms["live"], default=0), 1),
            "probes": len(self.probe_ms["live"]) + len(self.probe_ms["metrics"]),
            "rss_mb_first_last_max": [
                round(self.rss_mb[0], 1),
                round(self.rss_mb[-1], 1),
                round(max(self.rss_mb), 1),
            ]
            if self.rss_mb
            else [],
            "after": self.after,
        }


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _one(c: httpx.AsyncClient, i: int, words: int, stream: bool, rep: OverloadReport) -> None:
    text = " ".join(f"w{i}x{j}" for j in range(words))
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream}
    rep.sent += 1
    async with c.stream("POST", "/v1/chat/completions", json=body) as r:
        raw = await r.aread() if not stream else b""
        if r.status_code == 503:
            chunks = [] if not stream else [x async for x in r.aiter_bytes()]
            if r.headers.get("retry-after") and b"data:" not in b"".join(chunks):
                rep.refused += 1
            else:
                rep.other.append(f"503 without Retry-After or after data ({i})")
            return
        if r.status_code != 200:
            rep.other.append(f"{r.status_code}: {(raw or await r.aread())[:200]!r}")
            return
        if not stream:
            answer = json.loads(raw)["choices"][0]
            ok = answer["message"]["content"] == text and answer["finish_reason"] == "stop"
        else:
            events, got, reason = [], [], None
            try:
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        events.append(line[6:])
            except httpx.HTTPError:
                pass  # a cut stream: counted below
            for e in events[:-1]:
                choice = (json.loads(e).get("choices") or [{}])[0]
                got.append(choice.get("delta", {}).get("content", ""))
                reason = choice.get("finish_reason") or reason
            ok = bool(events) and events[-1] == "[DONE]" and "".join(got) == text and reason
        if ok:
            rep.completed += 1
        else:
            rep.cut_short += 1


def _probe(
    base: str, rep: OverloadReport, stop: threading.Event, every_s: float, pid: int | None
) -> None:
    # a thread of its own with its own connections: a probe never waits for the load's event
    # loop or behind its connections (only for the GIL, in this process)
    with httpx.Client(base_url=base, timeout=10) as c:
        while not stop.is_set():
            for what, path in (("live", "/health/live"), ("metrics", "/metrics")):
                t0 = time.perf_counter()
                r = c.get(path)
                rep.probe_ms[what].append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    rep.other.append(f"{path}: {r.status_code}")
            rep.rss_mb.append(rss_mb(pid))
            stop.wait(every_s)


def gauges(metrics_text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("legal_edge_requests_running", "legal_edge_requests_waiting"):
        values = re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", metrics_text, re.M)
        out[name] = sum(float(v) for v in values)
    return out


async def overload(
    base: str,
    *,
    clients: int,
    waves: int = 1,
    words: int = 12,
    probe_every_s: float = 0.02,
    server_pid: int | None = None,
) -> OverloadReport:
    """``waves`` bursts of ``clients`` simultaneous requests (every other one streaming);
    ``server_pid``: the server's process, whose memory is sampled (default: this one)."""
    rep = OverloadReport()
    stop = threading.Event()
    prober = threading.Thread(target=_probe, args=(base, rep, stop, probe_every_s, server_pid))
    prober.start()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
            for w in range(waves):
                await asyncio.gather(
                    *(_one(c, w * clients + i, words, i % 2 == 0, rep) for i in range(clients))
                )
    finally:
        stop.set()
        prober.join()
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        for _ in range(100):  # the last sequences are released as their streams close
            rep.after = gauges((await c.get("/metrics")).text)
            if not any(rep.after.values()):
                break
            await asyncio.sleep(0.05)
    return rep
