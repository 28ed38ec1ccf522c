"""legal-recipes: the offline stages of the legal-edge pipeline, one verb per stage."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from legal_edge.settings.loader import ConfigError, load_config

# verb -> module under recipes/ exposing ``Config`` and ``run(cfg) -> Path``.
# Imported lazily so ``--help`` does not pull in torch.
STAGES: dict[str, tuple[str, str]] = {
    "prepare-data": (
        "recipes.prepare_data",
        "Prepare training/validation sets from raw legal data.",
    ),
    "train": ("recipes.train", "Fine-tune a base model with LoRA."),
    "evaluate": (
        "recipes.evaluate",
        "Evaluate models on legal exam, cases, safety, general ability.",
    ),
    "export": ("recipes.export", "Export a fine-tuned model to GGUF and quantize it."),
    "pipeline": ("recipes.pipeline", "Run data -> train -> evaluate -> export as one pipeline."),
    "build-index": ("recipes.build_index", "Build the statute index the server retrieves from."),
    "measure-loops": (
        "recipes.evaluate.measure_loops",
        "Measure answers caught in a loop and answers that end, through the server's defaults.",
    ),
}

# verb -> (module, click command in it, help): tools beside the stages, imported when run.
TOOLS: dict[str, tuple[str, str, str]] = {
    "build-heldout": (
        "recipes.evaluate.heldout",
        "main",
        "Write the evaluation items no training set holds (for configs/eval/heldout.yaml).",
    ),
}


def load_stage_config(module_name: str, config: Path, overrides: tuple[str, ...]):
    module = importlib.import_module(module_name)
    return module, load_config(module.Config, config, overrides)


def _make_command(verb: str, module_name: str, help_text: str) -> click.Command:
    @click.command(name=verb, help=help_text)
    @click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path),
        required=True,
        help="YAML config, e.g. recipes/configs/<stage>/smoke.yaml",
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config key (repeatable), e.g. --set output_dir=out/x",
    )
    def command(config: Path, overrides: tuple[str, ...]) -> None:
        try:
            module, cfg = load_stage_config(module_name, config, overrides)
            out = module.run(cfg)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(str(out))

    return command


def _make_tool(verb: str, module_name: str, attr: str, help_text: str) -> click.Command:
    """A command that imports its module only when run; its own options (and ``--help``) are
    the real command's."""

    @click.command(
        name=verb,
        help=help_text,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def command(ctx: click.Context, args: tuple[str, ...]) -> None:
        real: click.Command = getattr(importlib.import_module(module_name), attr)
        real.main(list(args), prog_name=ctx.command_path)

    return command


# bench name -> (module, click command in it, help): ``legal-recipes bench NAME``.
BENCHES: dict[str, tuple[str, str, str]] = {
    "retrieval": (
        "recipes.bench.retrieval",
        "main",
        "Recall@k, hit@k and MRR of statute search beside plain BM25, with intervals.",
    ),
}


@click.group(help=__doc__)
def main() -> None:
    pass


@main.group()
def bench() -> None:
    """Measure a part of the pipeline (results for a dated page under docs/measurements)."""


for _verb, (_module, _help) in STAGES.items():
    main.add_command(_make_command(_verb, _module, _help))
for _verb, (_module, _attr, _help) in TOOLS.items():
    main.add_command(_make_tool(_verb, _module, _attr, _help))
for _verb, (_module, _attr, _help) in BENCHES.items():
    bench.add_command(_make_tool(_verb, _module, _attr, _help))


if __name__ == "__main__":
    main()
