"""The export stage's progress lines on stderr (``[export] ...``)."""

from __future__ import annotations

from recipes.shared.step_cache import stderr_logger

log = stderr_logger("export")
