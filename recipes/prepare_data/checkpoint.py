"""Resume: the cleaned, deduplicated records are checkpointed, so a rerun skips the slow half.

After dedup (read, selection, PII, filters, near-dup: most of the run's time) the run state is
pickled to ``output_dir/.checkpoint/clean-<key>.pkl``. The key hashes everything those steps
depend on: the config minus the later steps' settings, every input file's size and mtime, and
the code version. A rerun after an interruption (or with only synthesis/split/decontamination
settings changed) loads it instead of starting over; any other change makes a new key.
"""

from __future__ import annotations

import pickle
from importlib import metadata
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_bytes
from legal_edge.settings.loader import to_dict
from recipes.shared.keys import content_key

from .config import Config
from .readers import source_files

# Settings that only the steps after the checkpoint read.
LATER_KEYS = (
    "output_dir",
    "profile",
    "plots",
    "resume",
    "synthesis",
    "split",
    "decontam",
    "max_per_category",
    "cap_seed",
)
FORMAT = 1  # bump when RunState changes shape


def checkpoint_key(cfg: Config) -> str:
    conf = {k: v for k, v in to_dict(cfg).items() if k not in LATER_KEYS}
    files = []
    for src in cfg.sources:
        if src.enabled:
            for p in source_files(src, cfg.data_root):
                st = p.stat()
                files.append((str(p), st.st_size, st.st_mtime_ns))
    try:
        version = metadata.version("legal-edge")
    except metadata.PackageNotFoundError:
        version = "dev"
    here = Path(__file__).parent  # this stage's code and the prompt formats it shares
    sources = [*here.glob("*.py"), *(here.parent / "shared").glob("*.py")]
    code = sorted((str(p.relative_to(here.parent)), p.stat().st_mtime_ns) for p in sources)
    return content_key([FORMAT, conf, files, version, code])


def _dir(cfg: Config) -> Path:
    return Path(cfg.output_dir) / ".checkpoint"


def load(cfg: Config, key: str) -> Any | None:
    path = _dir(cfg) / f"clean-{key}.pkl"
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # a torn or foreign file: start over rather than fail
        return None


def save(cfg: Config, key: str, state: Any) -> Path:
    folder = _dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("clean-*.pkl"):  # one checkpoint per output directory
        if old.name != f"clean-{key}.pkl":
            old.unlink(missing_ok=True)
    return atomic_write_bytes(
        folder / f"clean-{key}.pkl", pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    )
