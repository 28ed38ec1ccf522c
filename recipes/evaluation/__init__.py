"""The evaluation harness behind ``legal-recipes evaluate``: backends, suites, statistics, report.

One harness for every model form: ``gguf`` (llama.cpp, optional LoRA adapter), ``hf``
(transformers, optional PEFT adapter) and ``http`` (any OpenAI-compatible server). Suites only
talk to the small ``EvalBackend`` interface in ``backends``, so a number measured on one form is
comparable with the same number on another.
"""
