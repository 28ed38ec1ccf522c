"""What a consultation searches the statutes for: the question first (the articles it names
are looked up first, and the search cap keeps its start), then the user's recent turns (a
follow-up such as ``是有重大过错。`` says little on its own). The server, the evaluation and the
training records build their queries here, so they rank the same text."""

from __future__ import annotations

HISTORY_TURNS = 2  # earlier user turns added to the question
HISTORY_CHARS = 600  # ... at most this much of them


def consultation_query(user_turns: list[str]) -> str:
    """The search query for the last of ``user_turns`` (oldest first)."""
    if not user_turns:
        return ""
    earlier = user_turns[:-1][-HISTORY_TURNS:]
    history = "\n".join(reversed(earlier))[:HISTORY_CHARS]
    return "\n".join(x for x in (user_turns[-1], history) if x)
