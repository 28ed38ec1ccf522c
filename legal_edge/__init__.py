"""legal-edge: a legal-domain LLM a law office builds and runs on its own hardware."""

__version__ = "0.1.0"
