"""Crash and restart drill: ``kill -9`` a real ``legal-edge serve`` (tiny GGUF, feedback store
with text kept) while clients stream answers and write feedback, at a random moment; restart
it with the same command and check it comes back ready with no manual step and that every
feedback write acknowledged with 2xx is in the store."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.deploy.serve_process import serve_process

LEGAL_EDGE = str(Path(sys.executable).with_name("legal-edge"))


@dataclass
class CrashReport:
    rounds: int = 0
    acknowledged: int = 0
    found: int = 0
    streams_in_flight_at_kill: int = 0
    restart_ready_s: list[float] = field(default_factory=list)
    kill_after_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "acknowledged": self.acknowledged,
            "found": self.found,
            "lost": self.acknowledged - self.found,
            "streams_in_flight_at_kill": self.streams_in_flight_at_kill,
            "kill_after_s": [round(x, 2) for x in self.kill_after_s],
            "restart_ready_s": [round(x, 2) for x in self.restart_ready_s],
            "problems": self.problems[:20],
        }


def serve_env(db: Path) -> dict[str, str]:
    return {
        "LEGAL_EDGE_FEEDBACK_DB": str(db),
        "LEGAL_EDGE_RESPONSE_RETENTION_DAYS": "1",
        "LEGAL_EDGE_CPU_REPACK": "off",  # no probe decode: starts faster, same engine
        "LEGAL_EDGE_N_PARALLEL": "2",
        "LEGAL_EDGE_N_CTX": "512",
        "LEGAL_EDGE_N_THREADS": "1",
        "LEGAL_EDGE_LOG_LEVEL": "warning",
    }


def _writer(url: str, acked: list[str], stop: threading.Event, n: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = c.post(
                    "/v1/completions",
                    json={"model": "tiny", "prompt": f"the court {n} {i}", "max_tokens": 2},
                )
                if r.status_code != 200:
                    continue
                fb = c.post(
                    "/v1/feedback",
                    json={"response_id": r.json()["id"], "rating": "up", "tags": [f"w{n}-{i}"]},
                )
                if 200 <= fb.status_code < 300:
                    acked.append(fb.json()["id"])
            except httpx.HTTPError:
                return  # the server died: what was acknowledged is what counts


def _streamer(url: str, in_flight: list[int], stop: threading.Event) -> None:
    body = {"model": "tiny", "prompt": "the contract", "max_tokens": 400, "stream": True}
    while not stop.is_set():
        try:
            with httpx.stream("POST", url + "/v1/completions", json=body, timeout=30) as r:
                in_flight.append(1)
                try:
                    for _ in r.iter_lines():
                        pass
                finally:
                    in_flight.pop()
        except httpx.HTTPError:
            return


def stored_feedback(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("SELECT id FROM feedback")}
    finally:
        con.close()


def crash_rounds(
    gguf: Path, work: Path, *, rounds: int, writers: int = 3, seed: int = 0
) -> CrashReport:
    """``rounds`` times: serve, load it, kill -9 at a random moment, restart; then count."""
    rng = random.Random(seed)
    db = work / "feedback.db"
    argv = [LEGAL_EDGE, "serve", "--model", str(gguf)]
    rep = CrashReport()
    acked: list[str] = []
    for n in range(rounds):
        with serve_process(argv, work / f"serve-{n}.log", env=serve_env(db)) as served:
            if n:
                rep.restart_ready_s.append(served.ready_s)
            stop = threading.Event()
            in_flight: list[int] = []
            threads = [
                threading.Thread(target=_writer, args=(served.url, acked, stop, w))
                for w in range(writers)
            ] + [threading.Thread(target=_streamer, args=(served.url, in_flight, stop))]
            for t in threads:
                t.start()
            wait = rng.uniform(0.5, 2.5)
            time.sleep(wait)
            rep.streams_in_flight_at_kill += len(in_flight)
            os.killpg(served.proc.pid, signal.SIGKILL)  # the server and anything it started
            served.proc.wait()
            rep.kill_after_s.append(wait)
            stop.set()
            for t in threads:
                t.join(timeout=60)
        rep.rounds += 1
    # the last restart: it must come back ready on its own, and hold every acknowledged row
    with serve_process(argv, work / "serve-final.log", env=serve_env(db)) as served:
        rep.restart_ready_s.append(served.ready_s)
        if httpx.get(served.url + "/health/ready").status_code != 200:
            rep.problems.append("not ready after restart")
    found = stored_feedback(db)
    rep.acknowledged = len(acked)
    rep.found = len(set(acked) & found)
    return rep
