"""The llama.cpp backend: the backend the server talks to (``backend``), its batched engine
(``engine``, filling a ``batch``), each request's token choice (``picker``: llama.cpp's samplers
on the tokens they can change, then one arg-max or draw), the grammar / bias samplers and
log-probabilities (``sampling``) and the CPU-mode probe every GGUF load goes
through (``cpu_mode``: AMX hosts crash with repacked weights)."""
