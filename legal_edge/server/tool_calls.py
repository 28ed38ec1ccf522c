"""The model's answer as OpenAI ``tool_calls``, streamed as deltas while it is written.

An answer that starts (after blanks) with ``{`` is a call, ``{"name": ..., "arguments": {...}}``
(the grammar made by ``tools.plan`` guarantees the shape); anything else is content. The call's
header delta (id, name) goes out once the name is complete, then the arguments text as it
grows, holding back only what may be the call object's closing brace.
"""

from __future__ import annotations

import json
import re
from typing import Any

from legal_edge.server.tools import new_call_id

_HEADER = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\S)')
_TAIL = re.compile(r"\s*\}?\s*$")  # may be the call object's own end
_CLOSE = re.compile(r"\s*\}\s*$")  # is the call object's end, once the answer is over


class ToolCallFilter:
    """Feed it the answer's text pieces; it returns ``(content, tool_call_delta)`` pairs."""

    def __init__(self) -> None:
        self.mode = "undecided"  # -> "content" | "call"
        self.raw = ""
        self.call_id = new_call_id()
        self.name: str | None = None
        self.args_start = 0
        self.sent = 0  # characters of the arguments already sent

    @property
    def is_call(self) -> bool:
        return self.mode == "call" and self.name is not None

    def feed(self, text: str) -> list[tuple[str, dict[str, Any] | None]]:
        if self.mode == "content":
            return [(text, None)] if text else []
        self.raw += text
        if self.mode == "undecided":
            head = self.raw.lstrip()
            if not head:
                return []
            if not head.startswith("{"):
                self.mode = "content"
                out, self.raw = self.raw, ""
                return [(out, None)]
            self.mode = "call"
        return self._call_deltas(final=False)

    def finish(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Whatever is still held back, at the end of the answer."""
        if self.mode == "call" and self.name is None:  # cut off before the name: as text
            self.mode, out, self.raw = "content", self.raw, ""
            return [(out, None)] if out else []
        if self.mode == "undecided":
            out, self.raw = self.raw, ""
            return [(out, None)] if out else []
        return self._call_deltas(final=True) if self.mode == "call" else []

    def _call_deltas(self, final: bool) -> list[tuple[str, dict[str, Any] | None]]:
        out: list[tuple[str, dict[str, Any] | None]] = []
        if self.name is None:
            m = _HEADER.match(self.raw)
            if m is None:
                return out
            self.name = json.loads(m.group(1))
            self.args_start = m.end()
            out.append(
                (
                    "",
                    {
                        "index": 0,
                        "id": self.call_id,
                        "type": "function",
                        "function": {"name": self.name, "arguments": ""},
                    },
                )
            )
        args = self.raw[self.args_start :]
        tail = (_CLOSE if final else _TAIL).search(args)
        end = len(args) - (len(tail.group(0)) if tail else 0)
        if end > self.sent:
            out.append(("", {"index": 0, "function": {"arguments": args[self.sent : end]}}))
            self.sent = end
        return out

    def arguments(self) -> str:
        return self.raw[self.args_start : self.args_start + self.sent]

    def message_call(self) -> dict[str, Any]:
        """The whole call, for a non-streamed answer."""
        return {
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments()},
        }

    def complete(self) -> bool:
        """Whether the call's arguments are a whole JSON object."""
        try:
            return isinstance(json.loads(self.arguments()), dict)
        except ValueError:
            return False
