"""Which version of a law governs when: several dated files of one title become a timeline."""

from __future__ import annotations

from collections import defaultdict

from .reader import ParsedFile, Problem


def drop_copies(files: list[ParsedFile]) -> None:
    """An article that a file of the same title and version already holds is a copy (one law
    filed under two folders): drop it, reported at its file:line."""
    seen: dict[tuple[str, str, int, int], str] = {}
    for f in files:
        kept = []
        for row in f.rows:
            key = (f.title, f.version, row["main"], row["sub"])
            if key in seen:
                f.problems.append(Problem(row["origin"], f"copy of {seen[key]}; dropped", False))
            else:
                seen[key] = row["origin"]
                kept.append(row)
        f.rows = kept


def assign_status(files: list[ParsedFile]) -> dict[str, int]:
    """Set ``status``/``effective_to`` on every row; return how many laws have several versions.

    Files of one title with one version date are parts of one text (民法典's 编); a title with
    several dates is a law in several versions: all but the newest are ``superseded`` and end
    where the next one starts.
    """
    drop_copies(files)
    by_title: dict[str, dict[str, list[ParsedFile]]] = defaultdict(lambda: defaultdict(list))
    for f in files:
        by_title[f.title][f.version].append(f)
    multi = 0
    for versions in by_title.values():
        order = sorted(versions)
        multi += len(order) > 1
        for i, version in enumerate(order):
            newer = order[i + 1] if i + 1 < len(order) else None
            until = min(g.effective_from for g in versions[newer]) if newer else None
            for f in versions[version]:
                for row in f.rows:
                    row["status"] = "superseded" if newer else "in_force"
                    row["effective_to"] = until
    return {"laws_with_versions": multi}
