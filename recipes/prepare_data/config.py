"""The data-preparation config: what to read, which rules to apply, where to write.

Loaded by ``legal_edge.settings.loader.load_config`` into frozen dataclasses, so an unknown key or
a wrong type fails before any work starts. Paths that are relative resolve against the working
directory (the repository root when run as documented).
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from legal_edge.settings.loader import ConfigError
from recipes.shared.paths import resolve_under

from .grounded import GroundingConfig

Format = Literal[
    "auto",
    "statutes",
    "case_markdown",
    "alpaca",
    "messages",
    "mcq",
    "case",
    "typical_case",
    "safety_refusal",
    "safety_pairs",
    "docx",
    "pdf",
    "text",
]


@dataclass(frozen=True)
class SourceConfig:
    """One input: a file, a folder or a glob under ``data_root``, read with one format."""

    name: str
    path: str
    format: Format = "auto"
    license: str = "unknown"
    category: str = ""  # empty: the format's default (statute, consultation, exam_mcq, ...)
    source: str = ""  # the output ``source``; empty: the row's own ``source`` field, else ``name``
    limit: int = 0  # read at most this many records (0 = all); the smoke config uses it
    exclude: tuple[str, ...] = ()  # glob patterns (relative to ``path``) skipped inside a folder
    pii: bool = False  # redact ID/phone/card/e-mail/marked names (client consultations)
    enabled: bool = True


@dataclass(frozen=True)
class FilterConfig:
    """Named quality rules; each rejected record names the rule that dropped it."""

    min_chars: int = 8  # whole record (prompt + answer); shorter is noise
    max_chars: int = 6000  # longer records are truncated by the trainer anyway; drop them here
    min_output_chars: int = 1  # MCQ answers ("答案：B") are short, so keep this low
    languages: tuple[str, ...] = ("zh", "en")  # allowed detected languages
    mojibake: bool = True  # U+FFFD, 锟斤拷, Latin-1 mis-decodes
    placeholders: bool = True  # 第X条, XX法, {name}: unresolved template slots
    copied_answer: bool = True  # answer empty or a copy of the question
    refusals: bool = True  # boilerplate refusals ("作为AI…我无法") outside safety data
    refusal_exempt_categories: tuple[str, ...] = ("safety",)


@dataclass(frozen=True)
class PiiConfig:
    """Client confidentiality: what to redact in sources marked ``pii: true``."""

    enabled: bool = True
    id_numbers: bool = True
    phones: bool = True
    bank_cards: bool = True
    emails: bool = True
    # Names only where marked by the office's own markup, e.g. <name>张三</name>.
    name_pattern: str = r"<name>(.+?)</name>"


@dataclass(frozen=True)
class DedupConfig:
    """Exact (normalized hash) and near-duplicate (MinHash LSH over character n-grams)."""

    exact: bool = True
    near: bool = True
    ngram: int = 5  # character n-grams; 5 suits Chinese (no word boundaries)
    num_perm: int = 64  # fewer permutations = faster; 64 keeps Jaccard error around ±0.06
    threshold: float = 0.85  # estimated Jaccard at/above which a record is a duplicate
    group_threshold: float = 0.6  # related records (below threshold) share a split group
    skip_categories: tuple[str, ...] = ()  # categories left out of near-dup (exact still runs)
    seed: int = 1


@dataclass(frozen=True)
class SynthesisConfig:
    """Instruction pairs made from statute articles by templates (no LLM)."""

    enabled: bool = True
    templates: tuple[str, ...] = ("which_article", "chapter", "complete")
    per_article: int = 1  # templates sampled per article (deterministic by seed)
    max_records: int = 0  # 0 = no cap
    seed: int = 7


@dataclass(frozen=True)
class SplitConfig:
    """Leak-free split: whole groups go to one side, stratified by category."""

    val_fraction: float = 0.05
    max_val_per_category: int = 300  # keeps validation quick to run
    seed: int = 13


@dataclass(frozen=True)
class DecontamConfig:
    """Drop training records whose prompt overlaps an evaluation file (n-gram overlap)."""

    eval_files: tuple[str, ...] = ()  # jsonl/json/csv under data_root or absolute; globs allowed
    ngram: int = 13
    min_overlap: float = 0.5  # share of the record's prompt n-grams found in evaluation text
    min_matches: int = 20  # and at least this many n-grams (a ~32-character shared span)


@dataclass(frozen=True)
class Config:
    """Prepare training/validation sets from raw legal data."""

    output_dir: Path = Path("runs/data/default")
    data_root: Path = Path("../shared/legal-data")
    sources: tuple[SourceConfig, ...] = ()
    allow_licenses: tuple[str, ...] = ()  # empty = every licence; else only these
    exclude_sources: tuple[str, ...] = ()  # source names or record ``source`` prefixes
    # Several files of one law (立法法 2015 and 2023): keep only the newest, so one question
    # ("《立法法》第N条…") has one answer. False keeps every version.
    statutes_latest_only: bool = True
    # Keep at most N records of a category (e.g. {statute: 20000}), sampled by seed before the
    # split; the rest are listed in rejected.jsonl as ``category_cap``. Empty = no caps.
    max_per_category: dict[str, int] = field(default_factory=dict)
    cap_seed: int = 17
    filters: FilterConfig = field(default_factory=FilterConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    # Prompts never trained on (JSONL with a ``prompt`` field, relative to the working
    # directory), e.g. a hand-labelled evaluation sample: records asking them are dropped.
    holdout_prompt_files: tuple[Path, ...] = ()
    # Consultations about a crime get this category (empty: they stay ``consultation``).
    crime_category: str = ""
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    # Permute MCQ options (the answer letters follow), seeded by record id: no letter prior.
    shuffle_mcq: bool = False
    # With shuffle_mcq: single-answer records answer A, B, C, D equally often (issue 28: a model
    # that learnt "always D" scored the constant-letter baseline; a balanced mix makes every
    # constant answer score exactly a quarter in training).
    balance_mcq_letters: bool = False
    mcq_seed: int = 5
    plots: bool = True
    resume: bool = True  # checkpoint cleaned records in output_dir/.checkpoint; reuse on rerun
    profile: bool = False  # print records/s per step to stderr


def _exists(root: Path, pattern: str) -> bool:
    """A path exists, or a glob matches at least one file."""
    path = resolve_under(root, pattern)
    if any(ch in pattern for ch in "*?["):
        return any(glob.iglob(str(path), recursive=True))
    return path.exists()


def validate(cfg: Config) -> None:
    """Fail before any work: missing inputs, empty source list, impossible numbers."""
    if not cfg.sources:
        raise ConfigError("sources: at least one source is required")
    names = [s.name for s in cfg.sources]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"sources: duplicate name {sorted(dup)[0]!r}")
    for i, src in enumerate(cfg.sources):
        if not src.enabled:
            continue
        if not _exists(cfg.data_root, src.path):
            path = resolve_under(cfg.data_root, src.path)
            raise ConfigError(f"sources[{i}].path ({src.name}): not found: {path}")
    for i, pattern in enumerate(cfg.decontam.eval_files):
        if not _exists(cfg.data_root, pattern):
            path = resolve_under(cfg.data_root, pattern)
            raise ConfigError(f"decontam.eval_files[{i}]: not found: {path}")
    for cat, cap in cfg.max_per_category.items():
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
            raise ConfigError(f"max_per_category.{cat}: expected an integer >= 0, got {cap!r}")
    if not 0.0 <= cfg.split.val_fraction < 1.0:
        raise ConfigError("split.val_fraction: must be in [0, 1)")
    if not 0.0 < cfg.dedup.group_threshold <= cfg.dedup.threshold <= 1.0:
        raise ConfigError("dedup: need 0 < group_threshold <= threshold <= 1")
    if cfg.dedup.ngram < 1 or cfg.decontam.ngram < 1:
        raise ConfigError("dedup.ngram / decontam.ngram: must be >= 1")
    known = ("which_article", "chapter", "complete")
    for i, name in enumerate(cfg.synthesis.templates):
        if name not in known:
            raise ConfigError(
                f"synthesis.templates[{i}]: unknown template {name!r}; known: {known}"
            )
    if cfg.pii.name_pattern:
        try:
            re.compile(cfg.pii.name_pattern)
        except re.error as exc:
            raise ConfigError(f"pii.name_pattern: not a valid regular expression: {exc}") from None
    for i, path in enumerate(cfg.holdout_prompt_files):
        if not Path(path).is_file():
            raise ConfigError(f"holdout_prompt_files[{i}]: not found: {path}")
    g = cfg.grounding
    if g.enabled and not Path(g.index).is_file():
        raise ConfigError(
            f"grounding.index: not found: {g.index} (build it with legal-recipes build-index)"
        )
    if g.k < 1:
        raise ConfigError("grounding.k: must be >= 1")
    if not 0.0 <= g.none_fraction < 1.0:
        raise ConfigError("grounding.none_fraction: must be in [0, 1)")
    if cfg.dedup.num_perm < 8:
        raise ConfigError("dedup.num_perm: must be >= 8")
