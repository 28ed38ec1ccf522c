"""Reliability drills, long form (issue 18): each prints a table and, with --json, its raw JSON.

    .venv/bin/python bench/drills.py fuzz --examples 50
    .venv/bin/python bench/drills.py overload --parallel 4 --queue 4 --factor 4 --waves 10
    .venv/bin/python bench/drills.py crash --rounds 10
    .venv/bin/python bench/drills.py hostile
    .venv/bin/python bench/drills.py recipes --kills 3 --base tiny

A bench script, not a ``legal-edge`` command: the drills need the test tools (schemathesis, the
tiny GGUF writer, tests/drills) that the shipped binary leaves out. The quick forms of the same
drills run in plain pytest (tests/drills/).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _emit(title: str, rows: list[tuple[str, Any]], raw: dict[str, Any], as_json: bool) -> None:
    width = max(len(k) for k, _ in rows)
    click.echo(title)
    for key, value in rows:
        click.echo(f"  {key:<{width}}  {value}")
    if as_json:
        click.echo(json.dumps(raw, ensure_ascii=False))


@click.group()
def main() -> None:
    """Run a reliability drill against the real server code (echo backend or the tiny GGUF)."""


@main.command()
@click.option("--examples", default=50, show_default=True, help="Cases per operation and mode.")
@click.option("--json", "as_json", is_flag=True, help="Also print the raw JSON.")
def fuzz(examples: int, as_json: bool) -> None:
    """Schemathesis over every operation of the served schema, with and without the key."""
    import httpx

    from tests.drills.apps import API_KEY, MODEL, echo_app
    from tests.drills.fuzz import fuzz as run_fuzz
    from tests.fixtures.live_server import live_server

    auth = {"Authorization": f"Bearer {API_KEY}"}
    with tempfile.TemporaryDirectory() as tmp:
        app = echo_app(
            ctx=4096,
            api_keys=(API_KEY,),
            feedback_db=Path(tmp) / "fb.db",
            response_retention_days=1,
        )
        with live_server(app) as url:
            chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            rid = httpx.post(url + "/v1/chat/completions", json=chat, headers=auth).json()["id"]
            t0 = time.monotonic()
            with_key = run_fuzz(url, examples=examples, headers=auth, response_id=rid)
            without = run_fuzz(url, examples=max(2, examples // 5))
            seconds = time.monotonic() - t0
    raw = {"with_key": with_key.as_dict(), "without_key": without.as_dict(), "seconds": seconds}
    rows = [
        ("requests (with key)", with_key.sent),
        ("requests (without key)", without.sent),
        ("statuses (with key)", dict(sorted(with_key.statuses.items()))),
        ("statuses (without key)", dict(sorted(without.statuses.items()))),
        ("valid requests accepted", raw["with_key"]["positive_accepted"]),
        ("failures", len(with_key.failures) + len(without.failures)),
    ]
    _emit("schema fuzzing", rows, raw, as_json)


@main.command()
@click.option("--parallel", default=4, show_default=True, help="n_parallel")
@click.option("--queue", default=4, show_default=True, help="max_queue")
@click.option("--factor", default=4, show_default=True, help="Clients per wave / capacity.")
@click.option("--waves", default=10, show_default=True)
@click.option("--delay", default=0.02, show_default=True, help="Echo seconds per token.")
@click.option(
    "--live-p99-goal-ms", default=100.0, show_default=True, help="Exit 1 above it (quiet host)."
)
@click.option("--json", "as_json", is_flag=True)
def overload(
    parallel: int,
    queue: int,
    factor: int,
    waves: int,
    delay: float,
    live_p99_goal_ms: float,
    as_json: bool,
) -> None:
    """Waves of factor x (n_parallel + max_queue) simultaneous clients, half streaming.

    Exits 1 when /health/live's p99 misses the goal on a quiet host (1-minute load average
    below the core count at the end); on a busy host the table says so instead."""
    import yaml

    from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
    from tests.deploy.serve_process import serve_process
    from tests.drills.crash import LEGAL_EDGE
    from tests.drills.overload import overload as run_overload
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    clients = factor * (parallel + queue)
    # `legal-edge serve` in a process of its own (echo backend: the drill is the server, not
    # the model), so health timings are the server's, not this load generator's
    with tempfile.TemporaryDirectory() as tmp:
        # served under the file's stem: the name the drill's clients ask for
        gguf = write_tiny_gguf(Path(tmp) / "echo-model.gguf", chat_template=GEMMA_CHAT_TEMPLATE)
        config = Path(tmp) / "config.yaml"
        settings = {
            "backend": "echo",
            "model": str(gguf),
            "n_parallel": parallel,
            "max_queue": queue,
            "backend_options": {"echo_delay_s": delay},
            "log_level": "warning",
        }
        config.write_text(yaml.safe_dump(settings))
        argv = [LEGAL_EDGE, "serve", "--config", str(config)]
        with serve_process(argv, Path(tmp) / "serve.log") as served:
            rep = asyncio.run(
                run_overload(served.url, clients=clients, waves=waves, server_pid=served.proc.pid)
            )
    stats = {k.rsplit("_", 1)[-1]: int(v) for k, v in rep.after.items()}
    raw = {
        "n_parallel": parallel,
        "max_queue": queue,
        "clients_per_wave": clients,
        "waves": waves,
        **rep.as_dict(),
        "backend_after": stats,
    }
    rows = [
        ("sent", rep.sent),
        ("completed", rep.completed),
        ("refused (503 + Retry-After)", rep.refused),
        ("cut short", rep.cut_short),
        ("other outcomes", len(rep.other)),
        ("/health/live p50 / p99 ms", f"{raw['health_live_p50_ms']} / {raw['health_live_p99_ms']}"),
        ("load average (1 min)", raw["load_average_1m"]),
        ("/metrics p99 ms", raw["metrics_p99_ms"]),
        ("RSS MB first/last/max", raw["rss_mb_first_last_max"]),
        ("after: running/waiting", f"{stats['running']}/{stats['waiting']}"),
    ]
    met = raw["health_live_p99_ms"] < live_p99_goal_ms
    quiet = raw["load_average_1m"] < (os.cpu_count() or 1)
    raw["health_live_p99_goal_ms"], raw["quiet_host"] = live_p99_goal_ms, quiet
    verdict = "met" if met else "MISSED" if quiet else "missed (busy host: not judged)"
    rows.append((f"/health/live p99 < {live_p99_goal_ms:g} ms", verdict))
    _emit(f"overload: {clients} clients x {waves} waves", rows, raw, as_json)
    if quiet and not met:
        sys.exit(1)


@main.command()
@click.option("--rounds", default=10, show_default=True, help="kill -9 and restart cycles.")
@click.option("--writers", default=3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def crash(rounds: int, writers: int, seed: int, as_json: bool) -> None:
    """kill -9 a real `legal-edge serve` (tiny GGUF) mid-stream and mid-feedback, restart."""
    from legal_edge.prompts import GEMMA_CHAT_TEMPLATE
    from tests.drills.crash import crash_rounds
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    with tempfile.TemporaryDirectory() as tmp:
        gguf = write_tiny_gguf(Path(tmp) / "tiny.gguf", chat_template=GEMMA_CHAT_TEMPLATE)
        rep = crash_rounds(gguf, Path(tmp), rounds=rounds, writers=writers, seed=seed)
    raw = rep.as_dict()
    rows = [
        ("kills", rep.rounds),
        ("feedback acknowledged", rep.acknowledged),
        ("found after restart", rep.found),
        ("lost", rep.acknowledged - rep.found),
        ("streams cut by the kill", rep.streams_in_flight_at_kill),
        ("restart to ready s (max)", round(max(rep.restart_ready_s), 2)),
        ("problems", len(rep.problems)),
    ]
    _emit("crash and restart", rows, raw, as_json)


@main.command()
@click.option("--read-timeout", default=5.0, show_default=True, help="client_read_timeout_s")
@click.option("--json", "as_json", is_flag=True)
def hostile(read_timeout: float, as_json: bool) -> None:
    """A 2 GB body (Content-Length and chunked), slowloris on headers and on the body."""
    from legal_edge.server.slow_clients import bounded_h11
    from tests.drills.apps import echo_app
    from tests.drills.hostile import huge_body, slow_client
    from tests.fixtures.live_server import live_server

    raw: dict[str, Any] = {}
    with live_server(echo_app(), http=bounded_h11(read_timeout)) as url:
        for chunked in (False, True):
            out = huge_body(url, "/v1/chat/completions", 2 * 1024**3, chunked=chunked)
            raw[f"2GB body ({'chunked' if chunked else 'Content-Length'})"] = vars(out)
        for phase in ("headers", "body"):
            out = slow_client(url, phase=phase, byte_every_s=1.0, give_up_s=6 * read_timeout)
            raw[f"slowloris 1 B/s ({phase})"] = vars(out)
    rows = [
        (k, f"status {v['status']}, {v['sent_bytes']} bytes sent, {v['seconds']:.2f} s")
        for k, v in raw.items()
    ]
    _emit(f"hostile clients (client_read_timeout_s {read_timeout})", rows, raw, as_json)


@main.command()
@click.option("--kills", default=3, show_default=True, help="Random kill -9 moments per stage.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--base",
    type=click.Choice(["tiny", "real"]),
    default="tiny",
    show_default=True,
    help="Train and export a tiny random model or the default Gemma 3 270M (about an hour).",
)
@click.option(
    "--stages", default="prepare-data,train,export", show_default=True, help="Comma-separated."
)
@click.option("--keep", type=click.Path(path_type=Path), help="Run in this folder and keep it.")
@click.option("--json", "as_json", is_flag=True)
def recipes(
    kills: int, seed: int, base: str, stages: str, keep: Path | None, as_json: bool
) -> None:
    """kill -9 prepare-data, train and export at random moments; rerun; compare.

    With --keep, a stage's uninterrupted run is reused when the folder has it, and a stage left
    out of --stages that a later one needs is read from there."""
    from tests.drills.recipe_runs import long_form

    def report(k) -> None:
        ok = "ok" if not (k.incomplete or k.differences) else "PROBLEM"
        click.echo(
            f"  {k.stage}: kill -9 at {k.at_s} s ({'killed' if k.killed else 'had ended'}), "
            f"{k.files_at_kill} final files then, rerun {k.rerun_s} s: {ok}",
            err=True,
        )

    head = "stage         ref s  kills  killed  incomplete  tmp left  reruns equal  max |diff|"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        click.echo(head)
        picked = tuple(stages.split(","))
        for drill in long_form(keep or Path(tmp), kills, seed, base, picked, report):
            r = drill.summary()
            results.append(r)
            diff = "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
            click.echo(
                f"{r['stage']:<12} {r['reference_s']:>6}  {r['kills']:>5}  "
                f"{r['killed_before_the_end']:>6}  {r['incomplete_files']:>10}  "
                f"{r['temp_files_left']:>8}  {r['reruns_equal']:>12}  {diff:>10}"
            )
            for p in r["problems"]:
                click.echo(f"  {r['stage']}: {p}")
    if as_json:
        click.echo(json.dumps({"base": base, "seed": seed, "stages": results}, ensure_ascii=False))
    if any(r["problems"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
