"""The evaluate stage: one harness for every model form, suites, statistics, report.

Forms: ``gguf`` (llama.cpp, optional LoRA adapter), ``hf`` (transformers, optional PEFT adapter)
and ``http`` (any OpenAI-compatible server). Suites only talk to the small ``EvalBackend``
interface in ``backends``, so a number measured on one form is comparable with the same number on
another. ``measure_loops`` is the second verb here: answers caught in a loop, through the server.
"""

from .config import Config, ModelSpec, SuiteSpec
from .stage import run

__all__ = ["Config", "ModelSpec", "SuiteSpec", "run"]
