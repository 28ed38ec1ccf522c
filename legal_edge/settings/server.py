"""Server settings: defaults < YAML config < ``LEGAL_EDGE_*`` environment < command-line options."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legal_edge.backends.base import BackendOptions
from legal_edge.backends.llamacpp.offload import check_setting as check_offload_setting
from legal_edge.models.merged_build import MODEL_FORMS
from legal_edge.settings.loader import ConfigError, load_config

ENV_PREFIX = "LEGAL_EDGE_"
# The shipped legal model: the base GGUF (models/gemma3-270m) + the committed LoRA adapter.
# The base stays selectable: --model gemma3-270m.
DEFAULT_MODEL = "legal-gemma3-270m"


@dataclass(frozen=True)
class Settings:
    # Where to listen. 127.0.0.1 by default: exposing the API is an explicit decision.
    host: str = "127.0.0.1"
    port: int = 8000
    # A model name in models_dir, a model directory, or a GGUF file.
    model: str = DEFAULT_MODEL
    models_dir: Path = Path("models")
    backend: str = "llamacpp"  # llamacpp | vllm | echo
    # Which form of a base + LoRA adapter model to load. auto: its merged build (models/<name>/
    # merged/, `legal-edge models build-merged`: faster, same answers) when that passed its
    # quality gate and matches the adapter, else the adapter at run time; merged: the merged
    # build or an error; adapter: always the run-time LoRA.
    model_form: str = "auto"
    # Bearer keys accepted on /v1/*; empty = no auth (only allowed on loopback by default).
    api_keys: tuple[str, ...] = ()
    allow_public_without_keys: bool = False
    # true: /metrics needs an API key too (give it to Prometheus: `authorization` in its scrape
    # config). false: open to scrapers; it holds counts and timings, never conversation text.
    metrics_require_key: bool = False
    # Engine: threads (0 = all cores), sequences decoded together, context per sequence.
    n_threads: int = 0
    n_parallel: int = 8
    n_ctx: int = 4096
    # llama.cpp weight repacking (faster kernels for the CPU's widest instructions). auto: a test
    # decode in a child process decides, cached per llama.cpp build and CPU (AMX Xeons crash with
    # it); on/off force a mode and skip the probe.
    cpu_repack: str = "auto"
    # llama.cpp layers on the GPU (llama-server's -ngl). auto: on a GPU build of llama.cpp, every
    # layer that fits in free GPU memory (the whole model when it fits), on a CPU build none;
    # 0: the CPU only; N: N layers. Reported in the start log and /v1/models (offload).
    n_gpu_layers: str = "auto"
    # At temperature 0 the same request always gets the same answer when the server is otherwise
    # idle, and after the cache holds its prefix. With other requests running at the same time,
    # llama.cpp's batched CPU kernels round differently, so a token can flip. true: decode every
    # sequence in its own llama.cpp call, so an answer never depends on what else runs (for
    # evaluations against the server; costs throughput with several clients).
    batch_invariant: bool = False
    # Requests: the wait queue, deadlines, default answer length and body size.
    max_queue: int = 64  # waiting requests beyond the running ones; more -> 503 + Retry-After
    request_timeout_s: float = 600.0  # per-request deadline -> 504
    default_max_tokens: int = 512  # when a request gives no max_tokens (capped by the context)
    max_body_bytes: int = 1_000_000  # larger request bodies -> 413
    # Seconds a client has to send a request's headers and body from its first byte; slower
    # (a slowloris holding connections open) -> 408 and the connection closed.
    client_read_timeout_s: float = 30.0
    # Logs never contain prompts or answers unless this is switched on (debugging only).
    log_prompts: bool = False
    log_level: str = "info"
    # Backend-specific options (e.g. vLLM's tensor_parallel_size, gpu_memory_utilization).
    backend_options: dict[str, Any] | None = None
    # Feedback store (SQLite, WAL): every response is recorded so POST /v1/feedback can refer to
    # it and ab-report can compare variants. None = feedback disabled (the endpoint answers 503).
    feedback_db: Path | None = None
    # The statute index (`legal-recipes build-index`: its directory or index.sqlite3) behind
    # GET /v1/statutes/* and grounded answers. Set, it wins over the index a model's manifest
    # names (an office's own index); None: the served model's manifest's, else the endpoints
    # answer 503.
    statutes_index: Path | None = None
    # Grounded chat completions (docs/grounding.md): retrieved articles put into the question,
    # a `citations` list in the response, every citation in the answer checked. auto: for a model
    # whose manifest names a statute index (the shipped one does); on: every model, with
    # statutes_index; off: none (the look-up endpoints keep working when statutes_index is set).
    grounding: str = "auto"
    # Articles given per question (a request may ask 0-10 with grounding.k). More articles make a
    # longer prompt, and prompt time is what a lawyer waits for before the first word.
    grounding_k: int = 3
    # An article scoring below this (BM25 x citation prior) is not relevant; with none left the
    # server answers that nothing was found instead of letting the model answer from memory.
    # null: the floor build-index calibrated for the index (scores differ between corpora;
    # `legal-edge statutes status` shows it), 7.5 for an index built before that. A number
    # overrides it (docs/grounding.md).
    grounding_min_score: float | None = None
    # Each article is cut to this many characters in the prompt: a longer one gives the
    # sentences that share the most words with the question, in order, …… between them.
    grounding_article_chars: int = 240
    # Time to first token the grounded prompt is sized for: the backend measures how fast it
    # reads a prompt and how long a decode step takes (at start, then from the steps it serves),
    # and when the articles would make the prompt longer than it can read in this time (less the
    # closed-book guard's question and its grounding_guard_tokens steps, when the guard is on),
    # they are cut shorter (never below 40 characters) and the lowest-ranked ones dropped (one
    # always stays). 1000 ms with the guard: on a 2-core AVX-512 CPU (~600 prompt tokens/s) about
    # half the k = 3 articles' text, on a 2-core AVX2 one (~200) a single 40-character excerpt.
    # 0: no limit. Backends that do not measure (vLLM) are never cut.
    grounding_first_token_ms: int = 1000
    # Weight of the index's expansion table (lay-question words per article, indexed beside its
    # text; docs/measurements/2026-12-07-retrieval.md): 0 searches the statute text alone.
    grounding_expansion_weight: float = 1.0
    # true: an article whose text repeats a better-ranked one gives its place to the next.
    grounding_collapse_repeats: bool = True
    # true: an unverified citation in an answer gets 〔未核实：why〕 right after it in the text
    # itself (streams too), so no invented article reaches a lawyer unmarked. `citations` marks
    # it either way.
    flag_unverified_citations: bool = True
    # What the text does with a citation whose sentence restates another given article's words
    # (supported: false). correct: the citation is rewritten to that article's number, so the
    # answer states the law truly (citations[] keeps the original as corrected_from); mark: the
    # number stays and 〔未核实：…〕 follows the sentence, which still reads false. A list of
    # articles sharing one sentence is marked either way. Needs flag_unverified_citations.
    misattributed_citations: str = "correct"
    # constrained: in a grounded answer the model can write 《 only to start a heading it was given
    # (a grammar while decoding, on backends that enforce grammars: llama.cpp); check: it writes
    # freely and every citation is checked afterwards (a citation of an article not given is
    # marked as such). check suits a model not trained on the headed citation format.
    citation_mode: str = "constrained"
    # The closed-book guard of grounded answers (docs/grounding.md): the question is also put to
    # the model as asked, without the articles, greedily, in the same batch as the grounded
    # prompt; when the opening of that closed-book answer is a refusal (the detector the safety
    # evaluation counts with), the client gets the closed-book refusal, no articles, and
    # `grounding.outcome: refused_closed_book`. Articles before a harmful request made the
    # shipped model help with 9 of 12 requests it refuses closed-book. Costs a second sequence
    # (a slot) per grounded question for a few tokens, and the first token waits for the probe.
    grounding_guard: bool = True
    # Tokens of the closed-book opening the guard reads before the grounded answer may start:
    # the model's refusals open at once (很抱歉，我不能…); more tokens delay the first token and
    # read further into helpful answers, where a phrase such as 违法行为 is no refusal.
    grounding_guard_tokens: int = 8
    # Days the conversation and answer text are kept for feedback. 0 (the default): text is never
    # stored, only timings, status, token counts and ratings; in a law office that text is
    # client-confidential, so keeping it is the admin's explicit choice. request_log_days: when
    # those rows go too (0 = never).
    response_retention_days: float = 0.0
    request_log_days: float = 90.0
    # A/B test: ab_model (a model name or directory) serves as variant B beside model (A) for
    # ab_split of the clients, sticky per ab_header value, else per API key, else per address.
    ab_model: str = ""
    ab_split: float = 0.5
    ab_header: str = "x-user-id"

    def backend_opts(self) -> BackendOptions:
        return BackendOptions(
            n_threads=self.n_threads,
            n_parallel=self.n_parallel,
            n_ctx=self.n_ctx,
            max_queue=self.max_queue,
            cpu_repack=self.cpu_repack,
            n_gpu_layers=self.n_gpu_layers,
            batch_invariant=self.batch_invariant,
            extra=dict(self.backend_options or {}),
        )

    def check(self) -> None:
        """Reject unsafe or impossible combinations, naming the setting."""
        if not (0 < self.port < 65536):
            raise ConfigError(f"port: {self.port} is not a TCP port")
        if not self.client_read_timeout_s > 0:
            raise ConfigError("client_read_timeout_s: must be > 0")
        for key in ("n_parallel", "n_ctx", "default_max_tokens", "max_body_bytes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be at least 1")
        if self.cpu_repack not in ("auto", "on", "off"):
            raise ConfigError(f"cpu_repack: {self.cpu_repack!r} must be auto, on or off")
        try:
            check_offload_setting(self.n_gpu_layers)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.max_queue < 0:
            raise ConfigError("max_queue: must be >= 0")
        if self.response_retention_days < 0 or self.request_log_days < 0:
            raise ConfigError("response_retention_days / request_log_days: must be >= 0")
        if not 0.0 < self.ab_split < 1.0:
            raise ConfigError(f"ab_split: {self.ab_split} must be between 0 and 1 (B's share)")
        if not self.api_keys and not is_loopback(self.host) and not self.allow_public_without_keys:
            raise ConfigError(
                f"host: refusing to listen on {self.host} without API keys; set api_keys "
                f"(LEGAL_EDGE_API_KEYS=key1,key2) or allow_public_without_keys: true"
            )
        if any(len(k) < 8 for k in self.api_keys):
            raise ConfigError("api_keys: every key must have at least 8 characters")
        if not 1 <= self.grounding_guard_tokens <= 64:
            raise ConfigError(
                f"grounding_guard_tokens: {self.grounding_guard_tokens} must be between 1 and 64"
            )
        if self.citation_mode not in ("constrained", "check"):
            raise ConfigError(f"citation_mode: {self.citation_mode!r} must be constrained or check")
        if self.misattributed_citations not in ("correct", "mark"):
            raise ConfigError(
                f"misattributed_citations: {self.misattributed_citations!r} must be correct or mark"
            )
        if self.grounding not in ("auto", "on", "off"):
            raise ConfigError(f"grounding: {self.grounding!r} must be auto, on or off")
        if not 0 <= self.grounding_k <= 10:
            raise ConfigError(f"grounding_k: {self.grounding_k} must be between 0 and 10")
        if self.grounding_expansion_weight < 0:
            raise ConfigError("grounding_expansion_weight: must be >= 0")
        if (self.grounding_min_score or 0) < 0 or self.grounding_article_chars < 0:
            raise ConfigError("grounding_min_score / grounding_article_chars: must be >= 0")
        if self.grounding_first_token_ms < 0:
            raise ConfigError("grounding_first_token_ms: must be >= 0 (0: no limit)")
        if self.model_form not in MODEL_FORMS:
            raise ConfigError(
                f"model_form: {self.model_form!r} must be one of {', '.join(MODEL_FORMS)}"
            )


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_config_path() -> Path | None:
    """``$LEGAL_EDGE_CONFIG``, else ``./legal-edge.yaml`` when it exists."""
    env = os.environ.get("LEGAL_EDGE_CONFIG")
    if env:
        return Path(env)
    local = Path("legal-edge.yaml")
    return local if local.is_file() else None


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    path = config if config is not None else default_config_path()
    settings = load_config(Settings, path, overrides or {}, env_prefix=ENV_PREFIX, environ=environ)
    settings.check()
    return settings
