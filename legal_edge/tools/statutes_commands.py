"""``legal-edge statutes``: search the statute index, show an article, check citations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from legal_edge.statutes.index import ArticleRecord, IndexError_, StatuteIndex


def open_index(index: Path | None, config: Path | None) -> StatuteIndex:
    """``--index``, else the config's ``statutes_index``, else the index the served model's
    manifest names (as the server finds it: on a default install, runs/index/statutes)."""
    if index is None:
        from legal_edge.settings.loader import ConfigError
        from legal_edge.settings.server import load_settings

        try:
            settings = load_settings(config)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        index = settings.statutes_index or model_index(settings.model, settings.models_dir)
    if index is None:
        raise click.ClickException(
            "no statute index: pass --index, set statutes_index, or serve a model whose "
            "manifest names one"
        )
    try:
        return StatuteIndex(index)
    except IndexError_ as exc:
        raise click.ClickException(str(exc)) from None


def model_index(model: str, models_dir: Path) -> Path | None:
    """The statute index ``model``'s manifest names (relative: to the models folder)."""
    from legal_edge.models.manifest import ManifestError, resolve_model

    try:
        named = resolve_model(model, models_dir).statutes_index
    except ManifestError:
        return None
    if named is None:
        return None
    path = Path(named).expanduser()
    return path if path.is_absolute() else Path(models_dir) / path


_index_option = click.option(
    "--index",
    type=click.Path(path_type=Path),
    default=None,
    help="Index directory or index.sqlite3 [the config's statutes_index, else the model's].",
)
_config_option = click.option(
    "--config", type=click.Path(path_type=Path), default=None, help="Server YAML config."
)
_date_option = click.option("--date", default=None, help="YYYY-MM-DD: the version in force then.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _show(rec: ArticleRecord) -> str:
    where = f"{rec.law}{'·' + rec.part if rec.part else ''} {rec.label}"
    state = "in force" if rec.status == "in_force" else f"superseded {rec.effective_to}"
    return f"{where}  [{rec.version}, {state}, {rec.origin}]\n  {rec.chapter}\n{rec.text}\n"


@click.group("statutes")
def statutes_group() -> None:
    """Look up articles in the statute index (legal-recipes build-index)."""


@statutes_group.command("search")
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="Articles to show.")
@_date_option
@_index_option
@_config_option
@_json_option
def search_command(
    query: str, k: int, date: str | None, index: Path | None, config: Path | None, as_json: bool
) -> None:
    """Articles for a question, best first (articles it names are looked up directly)."""
    try:
        hits = open_index(index, config).search(query, k=k, date=date)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    for rec in hits:
        click.echo(_show(rec))
    if not hits:
        click.echo("no article found", err=True)


@statutes_group.command("show")
@click.argument("law")
@click.argument("article")
@_date_option
@_index_option
@_config_option
@_json_option
def show_command(
    law: str, article: str, date: str | None, index: Path | None, config: Path | None, as_json: bool
) -> None:
    """One article, e.g. `show 刑法 133-1` (short names, Chinese or Arabic numerals)."""
    ix = open_index(index, config)
    try:
        rec = ix.lookup(law, article, date)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if rec is None:
        title = ix.resolve_law(law)
        raise click.ClickException(
            f"no law named {law!r}" if title is None else f"《{title}》 has no article {article}"
        )
    click.echo(json.dumps(rec.to_dict(), ensure_ascii=False, indent=2) if as_json else _show(rec))


@statutes_group.command("verify")
@click.argument("text", required=False)
@_date_option
@_index_option
@_config_option
def verify_command(
    text: str | None, date: str | None, index: Path | None, config: Path | None
) -> None:
    """Check each 《…》第…条 in TEXT (or stdin): in force, superseded or not found.

    Exits with status 1 if any cited article is not in force."""
    checks = open_index(index, config).verify_citations(text or sys.stdin.read(), date)
    for v in checks:
        click.echo(f"{'ok ' if v.verified else 'BAD'} {v.raw}: {v.status} ({v.reason})")
    if any(not v.verified for v in checks):
        sys.exit(1)
