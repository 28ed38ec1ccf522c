"""The OpenAI-compatible HTTP server (Litestar)."""

from legal_edge.server.app import create_app

__all__ = ["create_app"]
