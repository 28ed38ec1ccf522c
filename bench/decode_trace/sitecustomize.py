"""Loaded by Python at start when this folder is first on PYTHONPATH (``bench/server_steps.py``
starts the server so): with ``DECODE_TRACE=FILE`` set, every ``llama_decode`` of the process is
timed and its batch recorded (start, seconds, tokens, the sequence of each token); SIGUSR1
writes the records to FILE (JSON, written aside and renamed) and starts a new list."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

if os.environ.get("DECODE_TRACE"):
    import llama_cpp

    _decode = llama_cpp.llama_decode
    _steps: list[list[Any]] = []

    def _timed(ctx: Any, batch: Any) -> int:
        start = time.perf_counter()
        rc = int(_decode(ctx, batch))
        took = time.perf_counter() - start
        n = batch.n_tokens
        _steps.append([start, took, n, [batch.seq_id[i][0] for i in range(n)]])
        return rc

    def _dump(*_: Any) -> None:
        path = os.environ["DECODE_TRACE"]
        with open(path + ".part", "w") as fh:
            json.dump(_steps, fh)
        os.replace(path + ".part", path)
        _steps.clear()

    llama_cpp.llama_decode = _timed
    signal.signal(signal.SIGUSR1, _dump)
