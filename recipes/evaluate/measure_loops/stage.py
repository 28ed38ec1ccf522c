"""Measure how often answers loop and how often they end, through the real server at its defaults.

``legal-recipes measure-loops --config recipes/configs/loops/default.yaml [--set limit=20]`` asks a
seeded subset of consultation questions of every listed model, as a client would (chat, no
``max_tokens``: the server's ``default_max_tokens``), once per listed setting (``temperature: 0``,
or the request leaving it out), through ``create_app`` in-process with the llama.cpp engine
batching ``n_parallel`` sequences. It prints a table and writes ``loops.json`` (figures, host,
config, the reference answers' share flagged) and ``answers.jsonl`` (every answer with why it
counts as looping) in ``output_dir``. The metric is ``recipes.evaluate.loops``.
"""

from __future__ import annotations

from pathlib import Path

from .config import Config
from .runner import measure


def run(cfg: Config) -> Path:
    """Measure every model under every setting; return the path of ``loops.json``."""
    return measure(cfg)
