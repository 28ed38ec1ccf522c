"""One content key for "is this still the same input?": run fingerprints, caches, checkpoints."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_key(obj: Any) -> str:
    """16 hex digits of sha256 over ``obj`` as canonical JSON (sorted keys; ``str`` for paths
    and other non-JSON values). Equal inputs give equal keys on every machine and run."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
