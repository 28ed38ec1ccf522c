"""The export stage's steps in order; each one cached in ``state.json`` by its inputs' key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json
from legal_edge.settings.loader import ConfigError, to_dict
from recipes.shared.keys import content_key
from recipes.shared.paths import resolve_path
from recipes.shared.progress import progress_bar
from recipes.shared.step_cache import StepCache

from .accuracy import add_accuracy
from .config import Config, ParityError
from .gptq import maybe_export_gptq
from .log import log
from .merge import merge_into_gguf
from .parity import logits_parity, prompt_tokens, tokenizer_parity
from .publish import gate, publish_variant
from .quantize import quantize_gguf
from .report import write_reports
from .source import Source, validation_texts
from .variants import Variants, load_range, measure_all


def export(cfg: Config, src: Source, out: Path, cache: StepCache) -> Path:
    """Merge, check parity, quantize, measure, score, gate and publish; write ``summary.json``
    and the report into ``out``; return ``out``."""
    m = src.manifest
    name = cfg.publish_name or m.name
    texts = validation_texts(cfg, src)
    # one bar over the stage's phases (merge, parity, quantize, measure, score, publish, GPTQ):
    # minutes each, so time left is a rough guide; the [export] lines say what each one did
    with progress_bar(len(PHASES), f"export {name}", unit="phase") as bar:
        bar.set_postfix_str(PHASES[0])
        merge_key, ref_path, merge_info = merge_step(cfg, src, out, cache, name)
        next_phase(bar)
        parity = parity_step(cfg, src, out, cache, merge_key, ref_path, texts)
        next_phase(bar)
        variants = quantize_steps(cfg, src, out, cache, name, merge_key, ref_path)
        next_phase(bar)
        rows = measure_all(cfg, out, cache, variants, texts, merge_key)
        next_phase(bar)
        add_accuracy(cfg, out, cache, variants, rows, merge_key)
        next_phase(bar)
        export_info = {
            "merge": merge_info,
            "parity": parity,
            "source": str(m.directory),
            "config": to_dict(cfg),
        }
        published = gate_and_publish(cfg, src, name, variants, rows, export_info)
        next_phase(bar)
        gptq = maybe_export_gptq(
            cfg.gptq, lambda: merged_hf_dir(src, out), out / f"{name}-gptq-int4", texts[:128]
        )
        next_phase(bar)
    ref_row = next(r for r in rows if r["variant"] == cfg.outtype.upper())
    summary = {
        "name": name,
        "source": str(m.directory),
        "source_kind": src.kind,
        "merge": merge_info,
        "parity": parity,
        "rows": rows,
        "published": published,
        "gptq": gptq,
        "gate": to_dict(cfg.gate),
        "quality": {"metric": cfg.gate.metric},
        "measure": {
            **to_dict(cfg.measure),
            "positions": ref_row.get("positions"),
            "load_average": load_range(rows),
        },
        "eval_report": "eval/report.md" if (out / "eval" / "report.md").is_file() else None,
    }
    atomic_write_json(out / "summary.json", summary)
    write_reports(out, summary)
    return out


PHASES = ("merge", "parity", "quantize", "measure", "score", "publish", "gptq")


def next_phase(bar: Any) -> None:
    """Count the phase done; name the next one beside the bar."""
    bar.update(1)
    if bar.n < len(PHASES):
        bar.set_postfix_str(PHASES[bar.n])


def base_hf_dir(src: Source) -> Path:
    """The float HF twin of the base GGUF for the parity checks: the one training used when it
    is still there, else the base dequantized once (cached)."""
    from recipes.shared.base_model import resolve_base

    if src.hf_dir is not None:
        return src.hf_dir
    assert src.base_gguf is not None
    return resolve_base(src.base_gguf).hf_dir


def merge_step(
    cfg: Config, src: Source, out: Path, cache: StepCache, name: str
) -> tuple[str, Path, dict[str, Any]]:
    """The float merged GGUF: (its key, which every later step extends; its path; merge info)."""
    m = src.manifest
    method = cfg.merge_method
    if method == "auto":
        method = "gguf" if src.base_gguf is not None else "hf"
    if method == "gguf" and src.base_gguf is None:
        raise ConfigError("merge_method: gguf needs a base GGUF; this model's base is HF only")
    # the hf route joins the key only when used, so exports made before it existed stay valid
    route = [] if method == "gguf" else [method]
    merge_key = content_key(
        [src.base_sha256, src.peft_sha256, cfg.outtype, m.chat_template, m.stop, name, *route]
    )
    ref_path = out / f"{name}-{cfg.outtype}.gguf"

    def merge() -> dict[str, Any]:
        if method == "hf":
            from .hf_route import merge_via_hf

            return merge_via_hf(
                base_hf_dir(src),
                src.peft_dir,
                ref_path,
                out,
                outtype=cfg.outtype,
                chat_template=m.chat_template,
                stop=list(m.stop),
                name=name,
            )
        assert src.base_gguf is not None
        return merge_into_gguf(
            src.base_gguf,
            src.peft_dir,
            ref_path,
            outtype=cfg.outtype,
            chat_template=m.chat_template,
            stop=list(m.stop),
            name=name,
            progress=log,
        )

    return merge_key, ref_path, cache.run("merge", merge_key, [ref_path], merge)


def parity_step(
    cfg: Config,
    src: Source,
    out: Path,
    cache: StepCache,
    merge_key: str,
    ref_path: Path,
    texts: list[str],
) -> dict[str, Any]:
    """Tokenizer and logits parity of the merged GGUF; a failure writes ``parity.json`` and
    raises ``ParityError`` (nothing is published)."""
    if not cfg.parity.enabled:
        return {}
    p = cfg.parity

    def check() -> dict[str, Any]:
        hf = base_hf_dir(src)
        prompts = prompt_tokens(ref_path, list(texts), p.prompts, p.max_tokens)
        return {
            "tokenizer": tokenizer_parity(hf, ref_path, plain(texts)[: p.tokenizer_texts]),
            "logits": logits_parity(hf, src.peft_dir, ref_path, prompts, p),
        }

    parity = cache.run("parity", content_key([merge_key, to_dict(p)]), [], check)
    tok = parity["tokenizer"]
    problems = (
        []
        if tok["ok"]
        else [f"tokenizer ids differ on {tok['mismatches']} texts: {tok['examples'][:2]}"]
    ) + parity["logits"]["failures"]
    if problems:
        atomic_write_json(out / "parity.json", parity)
        raise ParityError("parity checks failed, nothing published: " + "; ".join(problems))
    return parity


def plain(texts: list[str]) -> list[str]:
    """Validation texts without turn markers: the tokenizer check is about text, not specials."""
    return [re.sub(r"<[^<>\s]{1,32}>", "\n", t).strip() for t in texts]


def quantize_steps(
    cfg: Config,
    src: Source,
    out: Path,
    cache: StepCache,
    name: str,
    merge_key: str,
    ref_path: Path,
) -> Variants:
    """The float reference, one GGUF per quantization, and the source form to compare with."""
    variants: Variants = {cfg.outtype.upper(): {"model": ref_path, "lora": None}}
    for q in cfg.quantizations:
        qpath = out / f"{name}-{q.lower()}.gguf"
        cache.run(
            f"quantize:{q}",
            content_key([merge_key, q]),
            [qpath],
            lambda q=q, qpath=qpath: {"path": str(quantize_gguf(ref_path, qpath, q))},
        )
        variants[q] = {"model": qpath, "lora": None}
    m = src.manifest
    if cfg.compare_source_form and src.base_gguf is not None:
        label = (
            "adapter form" if src.kind == "adapter" else "original"
        ) + f" ({m.quantization or 'base'})"
        variants[label] = {
            "model": src.base_gguf,
            "lora": m.adapter_path,
            "source_dir": m.directory,
        }
    return variants


def gate_and_publish(
    cfg: Config,
    src: Source,
    name: str,
    variants: Variants,
    rows: list[dict[str, Any]],
    export_info: dict[str, Any],
) -> dict[str, str]:
    """Judge every row against the float reference; publish the listed variants that pass.
    Returns {variant: published directory}."""
    ref_label = cfg.outtype.upper()
    ref_row = next(r for r in rows if r["variant"] == ref_label)
    ref_acc = (ref_row.get("accuracy") or {}).get("value")
    published: dict[str, str] = {}
    for r in rows:
        if r["variant"] == ref_label:
            r["gate"] = "reference"
            continue
        ok, reason = gate(r, ref_row, cfg.gate)
        acc = (r.get("accuracy") or {}).get("value")
        r["accuracy_drop"] = (ref_acc - acc) if acc is not None and ref_acc is not None else None
        r["gate"], r["gate_reason"] = ("pass" if ok else "refused"), reason
        if r["variant"] not in cfg.publish:
            continue
        if not ok:
            log(f"quality gate refused {r['variant']}: {reason}")
            continue
        target = resolve_path(cfg.models_dir) / f"{name}-{r['variant'].lower()}"
        publish_variant(
            variants[r["variant"]]["model"],
            target,
            source=src.manifest,
            quantization=r["variant"],
            row=r,
            export_info=export_info,
        )
        r["published"] = target.name
        published[r["variant"]] = str(target)
        log(f"published {target}")
    return published


def merged_hf_dir(src: Source, out: Path) -> Path:
    """The merged model as an HF checkpoint (for GPTQ), written once."""
    from .hf_route import merged_hf_dir as write_merged_hf

    return write_merged_hf(
        base_hf_dir(src), src.peft_dir, out / "merged-hf", src.manifest.chat_template
    )
