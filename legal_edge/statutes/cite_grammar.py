"""Only the given articles: a GBNF grammar under which a grounded answer can write ``《`` only to
start one of the headings the prompt gave it (``《中华人民共和国刑法》第一百三十三条之一``), and
any other text freely.

The llama.cpp engine runs it per sequence like a JSON grammar, checking the token the sampler
drew first and more only when that token is refused (``picker.GrammarCheck``: the best few
hundred tokens, then the whole vocabulary), so free text costs one check per token. A heading
may not run on into ``之`` (第一百三十三条 must not become 第一百三十三条之一, an article that
was not given). What the grammar does not govern — a
law named without brackets (``刑法第264条``), a list after a heading (``、第266条``) — is checked
after the fact like any citation (``citations[].given`` is null, and the page says so).
"""

from __future__ import annotations

from collections.abc import Sequence


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def citation_grammar(headings: Sequence[str]) -> str:
    """The grammar for an answer that may cite exactly ``headings`` (each ``《law》第N条``)."""
    if not headings:
        raise ValueError("citation_grammar: no headings to allow")
    for h in headings:
        if not h.startswith("《"):
            raise ValueError(f"citation_grammar: {h!r} is not a heading 《law》第N条")
    tails = " | ".join(_literal(h[1:]) for h in dict.fromkeys(headings))
    return "\n".join(
        [
            "root ::= [^《]* ( cite ( [^《之] [^《]* )? )*",
            f'cite ::= "《" ( {tails} )',
        ]
    )
