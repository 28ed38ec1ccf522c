"""Reading OpenAI-style server-sent events (``data: {...}`` lines ending with ``data: [DONE]``),
for the clients in this package: ``legal-edge chat`` and ``legal-edge bench``."""

from __future__ import annotations

import json
from typing import Any

DONE = "[DONE]"


def parse_line(line: str) -> dict[str, Any] | str | None:
    """One line of a stream: ``None`` for anything but a data line (comments, blank lines,
    ``event:``), ``DONE`` for the end marker, else the decoded JSON event. A malformed event
    raises ``json.JSONDecodeError``."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == DONE:
        return DONE
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise json.JSONDecodeError("an event must be a JSON object", payload, 0)
    return event
