"""Overload drill (quick form): 4x capacity at once. Long form: ``bench/drills.py overload``."""

from __future__ import annotations

import asyncio
import os
import warnings

from tests.drills.apps import echo_app
from tests.drills.overload import overload
from tests.fixtures.live_server import live_server

N_PARALLEL, MAX_QUEUE = 2, 2
LIVE_P99_MS = 100.0  # the goal for /health/live under load


def quiet_host() -> bool:
    """Fewer runnable processes than cores: latency is the server's, not the queue for a CPU."""
    return os.getloadavg()[0] < (os.cpu_count() or 1)


def test_four_times_capacity_completes_or_refuses_cleanly():
    app = echo_app(delay_s=0.02, n_parallel=N_PARALLEL, max_queue=MAX_QUEUE)
    clients = 4 * (N_PARALLEL + MAX_QUEUE)
    with live_server(app) as url:
        rep = asyncio.run(overload(url, clients=clients, waves=2))
        backend = next(iter(app.state.server.models.values())).backend
        assert backend.stats() == {"running": 0, "waiting": 0}  # no leaked sequence
    assert rep.other == [] and rep.cut_short == 0
    assert rep.sent == rep.completed + rep.refused == 2 * clients
    # at least what fits was served each wave; beyond running + queued, refused
    assert rep.completed >= 2 * (N_PARALLEL + MAX_QUEUE) and rep.refused > 0
    assert rep.probe_ms["live"] and rep.probe_ms["metrics"]  # they answered during the load
    p99 = rep.p99("live")
    print(f"/health/live p99 {p99:.1f} ms over {len(rep.probe_ms['live'])} probes")
    if quiet_host():
        assert p99 < LIVE_P99_MS, f"/health/live p99 {p99:.1f} ms under load"
    elif p99 >= LIVE_P99_MS:  # a busy shared box: its CPU queue, not the server
        load = os.getloadavg()[0]
        warnings.warn(f"/health/live p99 {p99:.1f} ms at load average {load:.1f}", stacklevel=1)
    assert rep.after == {"legal_edge_requests_running": 0.0, "legal_edge_requests_waiting": 0.0}
