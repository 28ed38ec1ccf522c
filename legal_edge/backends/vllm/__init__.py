"""The vLLM backend (an optional extra, for GPU hosts): the backend (``backend``) and the mapping
of OpenAI sampling fields onto vLLM's (``sampling``)."""
