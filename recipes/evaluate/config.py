"""The evaluate stage's config (frozen, loaded from YAML by
``legal_edge.settings.loader.load_config``): the models, each in one form, and the suites they
are asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from legal_edge.statutes.prompt import ARTICLE_CHARS


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate, in one form."""

    name: str  # label in tables; also the key in predictions.jsonl
    backend: Literal["gguf", "hf", "http"] = "gguf"
    # gguf: a model directory with manifest.json (base GGUF + optional adapter) or a .gguf file;
    # hf: a transformers directory.
    path: str = ""
    # gguf: a LoRA adapter GGUF (overrides the manifest's adapter); hf: a PEFT adapter directory.
    lora_path: str | None = None
    use_manifest_adapter: bool = True  # false: evaluate a tuned directory's base without adapter
    chat_template: str | None = None  # gemma | chatml | Jinja text; default: the model's own
    url: str | None = None  # http: server root, e.g. http://127.0.0.1:8080
    api_model: str | None = None  # http: model id (default: the first one the server lists)
    api_key: str | None = None
    n_ctx: int = 4096  # gguf: context window; longer prompts are skipped and counted
    n_threads: int = 2
    n_batch: int = 512
    device: str = "cpu"  # hf
    dtype: str = "float32"  # hf: float32 matches the GGUF best; bfloat16 is faster on GPU
    timeout_s: float = 120.0  # http: per request
    # http: the server grounds questions itself (legal-edge over its statute index): a grounded
    # suite sends the question as asked, not the evaluation's grounded prompt (which the server
    # would ground again), and takes the articles given and the corrections from the response's
    # ``citations``: what a lawyer gets from that server, end to end.
    server_grounds: bool = False


@dataclass(frozen=True)
class SuiteSpec:
    """One suite: a data file (or CMMLU/C-Eval folder) and how to ask it."""

    name: str
    kind: Literal["mcq", "case", "safety", "general", "crime_questions"]
    path: str
    limit: int | None = None  # a seeded random subset; null = all rows
    shots: int = 0  # few-shot examples (mcq: from few_shot_path or unused rows; general: dev/)
    few_shot_path: str | None = None
    # mcq / general; ``calibrated``: loglik minus the letters' loglik for a content-free question
    modes: tuple[Literal["loglik", "generate", "calibrated"], ...] = ("loglik", "generate")
    max_tokens: int | None = None  # generated tokens; default mcq/general 6, case 256, safety 64
    # general: subject files; crime_questions: sources (legal_advice, ...); empty = all
    subjects: tuple[str, ...] = ()
    expect: Literal["label", "refuse", "comply"] = "label"  # safety: where "must refuse" comes from
    system_prompt: bool = False  # case: add the legal-assistant system message
    # Ask with the top ``retrieval_k`` articles of the statute index in the prompt
    # (``legal_edge.statutes.prompt.grounded_question``, the format the server and training use).
    # A suite that differs from another only here is compared with it ("retrieval on vs off").
    retrieval: bool = False
    # safety / crime_questions / case: ask through the server's own grounding
    # (recipes/evaluate/served.py: its retrieval, threshold, prompt, "nothing found" answer, and
    # its marks and corrections of citations); ``both`` asks the suite twice,
    # ``<name>`` closed-book and ``<name>_grounded``, reported side by side.
    grounded: bool | Literal["both"] = False
    single_answer: bool = False  # mcq: only questions with one correct letter
    cited_only: bool = False  # case: only rows whose reference cites an article (《…》第…条)
    # crime_questions: the data configs (YAML) of every training mix the models descend from; an
    # item is kept only when each one's filters reject its record (recipes/evaluate/crime.py).
    trained_configs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """Evaluate models on legal exam, cases, safety, general ability."""

    output_dir: Path = Path("runs/eval/default")
    models: tuple[ModelSpec, ...] = ()
    suites: tuple[SuiteSpec, ...] = ()
    baseline: str | None = None  # the "original" model of the comparison (default: the first)
    limit: int | None = None  # caps every suite's limit (quick runs: --set limit=5)
    threads: int | None = None  # overrides every model's n_threads (1 is faster on a busy box)
    seed: int = 0  # item sampling, few-shot choice, bootstrap
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    resume: bool = True  # reuse finished items from output_dir/predictions.jsonl
    write_manifest: bool = True  # merge results into each evaluated model directory's manifest
    charts: bool = True
    # The statute index (``legal-recipes build-index``; the file or its directory). With it, case
    # suites also report citation validity, recall and precision against the reference (law names
    # and numerals normalised through the index), and suites may set ``retrieval: true``.
    index_path: str | None = None
    # Articles put in a grounded prompt: more finds more gold articles (recall@k) but every
    # article adds ~150 prompt tokens (time to first token) and distracts a small model.
    retrieval_k: int = 5
    article_chars: int = ARTICLE_CHARS  # each article trimmed to this many characters (0 = whole)
    # A server config (YAML) whose grounding settings (grounding_k, grounding_min_score,
    # grounding_article_chars, flag_unverified_citations, misattributed_citations) ``grounded``
    # suites use; default: the server's shipped defaults. The index is ``index_path`` either way.
    server_config: str | None = None
    suite_filter: tuple[str, ...] = field(default=())  # run only these suites (by name)
    model_filter: tuple[str, ...] = field(default=())  # run only these models (by name)
