"""The export stage quantizes with the runtime's quantizer (``legal_edge.models.quantize``), the one
``legal-edge models build-merged`` uses at install, so both make the same files."""

from legal_edge.models.quantize import QuantizeError, ftype_of, quantize_gguf

__all__ = ["QuantizeError", "ftype_of", "quantize_gguf"]
