"""The export stage's steps in order; each one cached in ``state.json`` by its inputs' hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from legal_edge.config import to_dict
from legal_edge.fileio import atomic_write_json

if TYPE_CHECKING:
    from recipes.export_gguf import Config, Source, StepState


def _hf_dir(src: Source) -> Path:
    """The float HF twin of the base GGUF for the parity checks: the one training used when it
    is still there, else the base dequantized once (cached)."""
    from recipes.train.base_model import resolve_base

    if src.hf_dir is not None:
        return src.hf_dir
    assert src.base_gguf is not None
    return resolve_base(src.base_gguf).hf_dir


def export(cfg: Config, src: Source, out: Path, state: StepState) -> Path:
    from legal_edge.config import ConfigError
    from recipes.export.gptq import maybe_export_gptq
    from recipes.export.merge import merge_into_gguf
    from recipes.export.parity import (
        ParityError,
        logits_parity,
        prompt_tokens,
        tokenizer_parity,
    )
    from recipes.export.publish import gate, publish_variant
    from recipes.export.quantize import quantize_gguf
    from recipes.export.report import write_reports
    from recipes.export_gguf import _key, _log, resolve_path, validation_texts

    m = src.manifest
    name = cfg.publish_name or m.name
    texts = validation_texts(cfg, src)
    method = cfg.merge_method
    if method == "auto":
        method = "gguf" if src.base_gguf is not None else "hf"
    if method == "gguf" and src.base_gguf is None:
        raise ConfigError("merge_method: gguf needs a base GGUF; this model's base is HF only")
    # the hf route joins the key only when used, so exports made before it existed stay valid
    route = [] if method == "gguf" else [method]
    merge_key = _key(
        src.base_sha256, src.peft_sha256, cfg.outtype, m.chat_template, m.stop, name, *route
    )
    ref_path = out / f"{name}-{cfg.outtype}.gguf"

    def merge() -> dict[str, Any]:
        if method == "hf":
            from recipes.export.hf_route import merge_via_hf

            return merge_via_hf(
                _hf_dir(src),
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
            progress=_log,
        )

    merge_info = state.run("merge", merge_key, [ref_path], merge)

    parity: dict[str, Any] = {}
    if cfg.parity.enabled:
        p = cfg.parity

        def check() -> dict[str, Any]:
            hf = _hf_dir(src)
            raw = [t for t in texts]
            prompts = prompt_tokens(ref_path, raw, p.prompts, p.max_tokens)
            return {
                "tokenizer": tokenizer_parity(hf, ref_path, _plain(texts)[: p.tokenizer_texts]),
                "logits": logits_parity(hf, src.peft_dir, ref_path, prompts, p),
            }

        parity = state.run("parity", _key(merge_key, to_dict(p)), [], check)
        problems = (
            []
            if parity["tokenizer"]["ok"]
            else [
                f"tokenizer ids differ on {parity['tokenizer']['mismatches']} texts: "
                f"{parity['tokenizer']['examples'][:2]}"
            ]
        ) + parity["logits"]["failures"]
        if problems:
            atomic_write_json(out / "parity.json", parity)
            raise ParityError("parity checks failed, nothing published: " + "; ".join(problems))

    variants: dict[str, dict[str, Any]] = {cfg.outtype.upper(): {"model": ref_path, "lora": None}}
    for q in cfg.quantizations:
        qpath = out / f"{name}-{q.lower()}.gguf"
        state.run(
            f"quantize:{q}",
            _key(merge_key, q),
            [qpath],
            lambda q=q, qpath=qpath: {"path": str(quantize_gguf(ref_path, qpath, q))},
        )
        variants[q] = {"model": qpath, "lora": None}
    if cfg.compare_source_form and src.base_gguf is not None:
        label = (
            "adapter form" if src.kind == "adapter" else "original"
        ) + f" ({m.quantization or 'base'})"
        variants[label] = {
            "model": src.base_gguf,
            "lora": m.adapter_path,
            "source_dir": m.directory,
        }

    rows = _measure_all(cfg, out, state, variants, texts, merge_key)
    ref_label = cfg.outtype.upper()
    _accuracy(cfg, out, state, variants, rows, merge_key)
    ref_row = next(r for r in rows if r["variant"] == ref_label)
    published: dict[str, str] = {}
    export_info = {
        "merge": merge_info,
        "parity": parity,
        "source": str(m.directory),
        "config": to_dict(cfg),
    }
    for r in rows:
        if r["variant"] == ref_label:
            r["gate"] = "reference"
            continue
        ok, reason = gate(r, ref_row, cfg.gate)
        acc, ref_acc = (
            (r.get("accuracy") or {}).get("value"),
            (ref_row.get("accuracy") or {}).get("value"),
        )
        r["accuracy_drop"] = (ref_acc - acc) if acc is not None and ref_acc is not None else None
        r["gate"], r["gate_reason"] = ("pass" if ok else "refused"), reason
        if r["variant"] in cfg.publish:
            if ok:
                target = resolve_path(cfg.models_dir) / f"{name}-{r['variant'].lower()}"
                publish_variant(
                    variants[r["variant"]]["model"],
                    target,
                    source=m,
                    quantization=r["variant"],
                    row=r,
                    export_info=export_info,
                )
                r["published"] = target.name
                published[r["variant"]] = str(target)
                _log(f"published {target}")
            else:
                _log(f"quality gate refused {r['variant']}: {reason}")

    def merged_hf() -> Path:
        return _merged_hf_dir(src, out)

    gptq = maybe_export_gptq(cfg.gptq, merged_hf, out / f"{name}-gptq-int4", texts[:128])
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
            "load_average": _load_range(rows),
        },
        "eval_report": "eval/report.md" if (out / "eval" / "report.md").is_file() else None,
    }
    atomic_write_json(out / "summary.json", summary)
    write_reports(out, summary)
    return out


def _load_range(rows: list[dict[str, Any]]) -> str:
    loads = [r["load_average"] for r in rows if r.get("load_average") is not None]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "not recorded"


def _plain(texts: list[str]) -> list[str]:
    """Validation texts without turn markers: the tokenizer check is about text, not specials."""
    import re

    return [re.sub(r"<[^<>\s]{1,32}>", "\n", t).strip() for t in texts]


def _measure_all(
    cfg: Config,
    out: Path,
    state: StepState,
    variants: dict[str, dict[str, Any]],
    texts: list[str],
    merge_key: str,
) -> list[dict[str, Any]]:
    from recipes.export.measure import measure_variant
    from recipes.export_gguf import _key

    mcfg = cfg.measure
    work = out / "measure"
    ref_label = cfg.outtype.upper()
    ref_lp = work / "reference_logprobs.npy"
    base_req = {
        "threads": mcfg.threads,
        "serve_ctx": mcfg.serve_ctx,
        "chunk_tokens": mcfg.chunk_tokens,
        "kl_tokens": mcfg.kl_tokens,
        "decode_tokens": mcfg.decode_tokens,
        "decode_prompt": texts[0][:400],
        "text": "\n".join(texts),
    }
    mkey = _key(merge_key, to_dict(mcfg))
    ref = state.run(
        f"measure:{ref_label}",
        mkey,
        [ref_lp],
        lambda: measure_variant(
            {**base_req, "model": str(variants[ref_label]["model"]), "save_logprobs": str(ref_lp)},
            work,
            ref_label,
            mcfg.timeout_s,
        ),
    )
    rows = []
    for label, v in variants.items():
        if label == ref_label:
            res = ref
        else:
            lora = str(v["lora"]) if v.get("lora") else None
            res = state.run(
                f"measure:{label}",
                _key(mkey, label, str(v["model"]), lora),
                [ref_lp],
                lambda v=v, label=label, lora=lora: measure_variant(
                    {
                        **base_req,
                        "model": str(v["model"]),
                        "lora": lora,
                        "tokens": ref["tokens"],
                        "ref_logprobs": str(ref_lp),
                    },
                    work,
                    _safe(label),
                    mcfg.timeout_s,
                ),
            )
        size = Path(v["model"]).stat().st_size + (
            Path(v["lora"]).stat().st_size if v.get("lora") else 0
        )
        row = {
            "variant": label,
            "path": str(v["model"]),
            "size_mb": round(size / 2**20, 1),
            **{k: val for k, val in res.items() if k != "tokens"},
        }
        if label == ref_label:
            row.update(kl_mean=0.0, top1_agreement=1.0)
        rows.append(row)
    return rows


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def _accuracy(
    cfg: Config,
    out: Path,
    state: StepState,
    variants: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    merge_key: str,
) -> None:
    """Legal MCQ accuracy of every variant with the evaluation harness (``out/eval``)."""
    from recipes.evaluate import Config as EvalConfig
    from recipes.evaluate import ModelSpec
    from recipes.evaluate import run as evaluate
    from recipes.export_gguf import _key

    if not cfg.suites:
        return
    specs = []
    for label, v in variants.items():
        if v.get("source_dir") is not None:  # the adapter form: base + adapter from its manifest
            specs.append(
                ModelSpec(
                    name=_safe(label),
                    backend="gguf",
                    path=str(v["source_dir"]),
                    n_threads=cfg.measure.threads,
                )
            )
        else:  # a merged GGUF: its own embedded chat template is what gets tested
            specs.append(
                ModelSpec(
                    name=_safe(label),
                    backend="gguf",
                    path=str(v["model"]),
                    n_threads=cfg.measure.threads,
                )
            )
    ecfg = EvalConfig(
        output_dir=out / "eval",
        models=tuple(specs),
        suites=cfg.suites,
        baseline=_safe(cfg.outtype.upper()),
        seed=cfg.seed,
        write_manifest=False,
        bootstrap_samples=1000,
    )

    def run_eval() -> dict[str, Any]:
        evaluate(ecfg)
        results = json.loads((out / "eval" / "results.json").read_text(encoding="utf-8"))
        per: dict[str, Any] = {}
        for spec in specs:
            vals = []
            for suite in results["suites"].values():
                mres = (
                    (suite["models"].get(spec.name) or {}).get("metrics", {}).get(cfg.gate.metric)
                )
                if mres and mres.get("value") is not None:
                    vals.append((mres["value"], mres["ci_low"], mres["ci_high"], mres["n"]))
            if vals:
                n = sum(v[3] for v in vals)
                per[spec.name] = {
                    k: sum(v[i] * v[3] for v in vals) / n
                    for i, k in ((0, "value"), (1, "low"), (2, "high"))
                }
                per[spec.name]["n"] = n
        return per

    per = state.run(
        "accuracy", _key(merge_key, to_dict(ecfg)), [out / "eval" / "results.json"], run_eval
    )
    for r in rows:
        r["accuracy"] = per.get(_safe(r["variant"]))


def _merged_hf_dir(src: Source, out: Path) -> Path:
    """The merged model as an HF checkpoint (for GPTQ), written once."""
    from recipes.export.hf_route import merged_hf_dir

    return merged_hf_dir(_hf_dir(src), src.peft_dir, out / "merged-hf", src.manifest.chat_template)
