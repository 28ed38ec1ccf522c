"""Conformance table (issue 17): legal-edge vs llama.cpp's llama-server vs `python -m
llama_cpp.server`, one run, the same GGUF, one row per OpenAI feature, through the real `openai`
SDK and LangChain. A row passes only when the answer is correct (the schema validates, the ban
holds, the choices differ, ...), not merely a 200.

    bench/build_llama_server.sh && bench/setup_peers.sh
    .venv/bin/python bench/conformance.py \
        --llama-server build/work/llama-server/cmake/bin/llama-server \
        --llcpp-python build/work/llcpp-server-venv/bin/python --json-out conformance.json

Each server runs in turn on the model's GGUF with its chat template from the GGUF
(llama-server with --jinja, which its tools need); prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # run as a file: siblings and legal_edge import

from compare import READY_PATH, free_port, running, server_command  # noqa: E402
from conformance_checks import ROWS  # noqa: E402
from conformance_rows import Target, gguf_tokenizer, run_row  # noqa: E402

from legal_edge.fileio import atomic_write_json  # noqa: E402
from legal_edge.models.manifest import resolve_model  # noqa: E402

SERVERS = ("legal-edge", "llama-server", "llama_cpp.server")
MARK = {"pass": "pass", "fail": "**fail**", "error": "error"}


def version(name: str, program: Path | None) -> str:
    """The version ``name`` reports; ``program``: llama-server's binary, or the Python that runs
    llama_cpp.server (None for legal-edge: this interpreter)."""
    if name == "llama-server":
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    py = program or sys.executable
    pkg = "llama_cpp" if name == "llama_cpp.server" else "legal_edge"
    code = f"import {pkg}; print({pkg}.__version__)"
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=REPO)
    return f"{pkg} {out.stdout.strip()}"


def markdown(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = ["| feature | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row, _ in ROWS:
        cells = []
        for n in names:
            kind, note = results[n]["rows"].get(row, ("error", "not run"))
            text = " ".join(note.split())  # one line: a cell
            text = text if len(text) <= 100 else text[:99] + "…"
            cells.append(f"{MARK[kind]}: {text}".replace("|", "\\|"))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_all(target: Target, only: set[str] | None) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for row, check in ROWS:
        if only and check.__name__ not in only:
            continue
        t0 = time.monotonic()
        out[row] = run_row(check, target)
        print(
            f"  {row}: {out[row][0]} ({time.monotonic() - t0:.1f} s) {out[row][1]}",
            file=sys.stderr,
            flush=True,
        )
    return out


@click.command(help=__doc__)
@click.option(
    "--model",
    default="legal-gemma3-270m/merged",
    show_default=True,
    help="model in models/, directory or GGUF: the shipped model's merged GGUF carries its chat "
    "template, which the peers read (the adapter form would give them the bare base GGUF)",
)
@click.option(
    "--llama-server",
    type=click.Path(path_type=Path),
    default=None,
    help="llama-server binary (bench/build_llama_server.sh)",
)
@click.option(
    "--llcpp-python",
    type=click.Path(path_type=Path),
    default=None,
    help="python with llama_cpp's server extras (bench/setup_peers.sh)",
)
@click.option("--servers", default=",".join(SERVERS), show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--ctx", type=int, default=2048, show_default=True, help="context per sequence")
@click.option("--slots", type=int, default=4, show_default=True, help="parallel sequences")
@click.option("--only", default="", help="comma-separated check names (e.g. seed,echo)")
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
@click.option(
    "--add-to",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON of an earlier run whose servers join this table",
)
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("/tmp"), show_default=True)
def main(
    model: str,
    llama_server: Path | None,
    llcpp_python: Path | None,
    servers: str,
    threads: int,
    ctx: int,
    slots: int,
    only: str,
    json_out: Path | None,
    add_to: Path | None,
    log_dir: Path,
) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    manifest = resolve_model(model, REPO / "models")
    gguf, name = manifest.model_path, manifest.name
    tokenize, piece = gguf_tokenizer(gguf)
    # --add-to: the servers of an earlier run of this script (a peer built later) join the table
    results: dict[str, dict[str, Any]] = json.loads(add_to.read_text())["results"] if add_to else {}
    wanted = {"llama-server": llama_server, "llama_cpp.server": llcpp_python}
    for server in servers.split(","):
        if server in wanted and not wanted[server]:
            print(f"skipping {server}: no --{server.replace('_', '-')} given", file=sys.stderr)
            continue
        port = free_port()
        cmd = server_command(
            server, model=model, gguf=gguf, port=port, threads=threads, ctx=ctx, slots=slots,
            llama_server=llama_server, python=llcpp_python, alias=name, jinja=True,
        )  # fmt: skip
        assert cmd is not None  # a peer without its binary was skipped above
        print(f"== {server}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        log = log_dir / f"conformance-{server}.log"
        with running(cmd, port, READY_PATH[server], log) as (_, url):
            target = Target(url + "/v1", name, tokenize, piece)
            rows = check_all(target, set(only.split(",")) if only else None)
        results[server] = {
            "version": version(server, wanted.get(server)),
            "command": cmd,
            "rows": rows,
        }
        if json_out:  # after each server: a later one's crash keeps the earlier columns
            record = {"gguf": str(gguf), "results": results, "table": markdown(results)}
            atomic_write_json(json_out, {**record, "loadavg_after": os.getloadavg()})
    print(markdown(results))
    if json_out:
        print(json.dumps({"wrote": str(json_out)}))


if __name__ == "__main__":
    main()
