"""The llama.cpp backend: the backend the server talks to (``backend``), its batched engine
(``engine``), the sampler chains (``sampling``) and the CPU-mode probe every GGUF load goes
through (``cpu_mode``: AMX hosts crash with repacked weights)."""
