"""General ability outside law: CMMLU / C-Eval CSV folders (``dev/`` for shots, ``test/`` or
``val/`` to score), one CSV per subject, scored exactly like the legal multiple choice."""

from __future__ import annotations

from pathlib import Path

from recipes.evaluate.items import DataError, Item, Loaded, Skipped, load_mcq_csv


def _split_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def subjects_of(root: Path) -> list[str]:
    split = _split_dir(root, ("test", "val"))
    if split is None:
        raise DataError(f"{root}: expected a test/ (CMMLU) or val/ (C-Eval) folder of CSV files")
    return sorted(p.stem.removesuffix("_test").removesuffix("_val") for p in split.glob("*.csv"))


def _csv(split: Path, subject: str) -> Path:
    for name in (
        f"{subject}.csv",
        f"{subject}_test.csv",
        f"{subject}_val.csv",
        f"{subject}_dev.csv",
    ):
        if (split / name).is_file():
            return split / name
    raise DataError(f"{split}: no CSV for subject {subject!r}")


def load_general(root: Path, subjects: tuple[str, ...]) -> tuple[Loaded, list[Item]]:
    """The scored items of ``subjects`` (all when empty) and the dev items for few-shot."""
    names = list(subjects) or subjects_of(root)
    known = set(subjects_of(root))
    unknown = [s for s in names if s not in known]
    if unknown:
        raise DataError(
            f"{root}: unknown subject {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    split = _split_dir(root, ("test", "val"))
    dev = _split_dir(root, ("dev",))
    items: list[Item] = []
    skipped: list[Skipped] = []
    pool: list[Item] = []
    for subject in names:
        got = load_mcq_csv(_csv(split, subject), subject)  # type: ignore[arg-type]
        items += got.items
        skipped += got.skipped
        if dev is not None:
            pool += load_mcq_csv(_csv(dev, subject), subject).items
    return Loaded(items, skipped), pool
