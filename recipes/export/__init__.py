"""The export stage's parts: merge, quantize, parity checks, measurements, report, publish."""
