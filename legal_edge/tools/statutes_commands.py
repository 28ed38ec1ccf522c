"""``legal-edge statutes``: search the statute index, show an article, check citations."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from legal_edge.statutes.books import describe, index_path, status_text
from legal_edge.statutes.books import open_index as open_statutes
from legal_edge.statutes.index import ArticleRecord, IndexError_, StatuteIndex


def find_index(index: Path | None, config: Path | None) -> Path:
    """``--index``, else the index the server would ground the configured model in: the
    config's ``statutes_index``, else the one the model's manifest names."""
    if index is not None:
        return index
    from legal_edge.models.manifest import ManifestError, resolve_model
    from legal_edge.settings.loader import ConfigError
    from legal_edge.settings.server import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.statutes_index is not None:
        return Path(settings.statutes_index)
    try:
        manifest = resolve_model(settings.model, Path(settings.models_dir))
    except ManifestError as exc:
        raise click.ClickException(f"no statute index: pass --index ({exc})") from None
    # the manifest's index even where grounding is switched off (look-ups still work there)
    path, why = index_path(dataclasses.replace(settings, grounding="auto"), manifest)
    if path is None:
        raise click.ClickException(f"no statute index: pass --index ({settings.model}: {why})")
    return path


def open_index(index: Path | None, config: Path | None) -> StatuteIndex:
    """The index ``find_index`` names, opened; a clear error when it cannot be."""
    try:
        return open_statutes(find_index(index, config))
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
    help="Index directory or index.sqlite3 [the one the server uses: the config's "
    "statutes_index, else the model's manifest's].",
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


@statutes_group.command("status")
@_index_option
@_config_option
@_json_option
def status_command(index: Path | None, config: Path | None, as_json: bool) -> None:
    """What the statute books are: sources and versions, laws and articles in force, newest
    version date, build time, relevance floor; and the versions kept for rollback."""
    from legal_edge.statutes import store

    ix = open_index(index, config)
    info = describe(ix)
    link = Path(info["index"])
    info["versions_kept"] = [v.path.name for v in store.versions(link)]
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(status_text(info))
    if info["versions_kept"]:
        click.echo(f"  versions kept: {', '.join(info['versions_kept'])}")


@statutes_group.command("rollback")
@_index_option
@_config_option
def rollback_command(index: Path | None, config: Path | None) -> None:
    """Serve the index version built before the current one again (restart the server)."""
    from legal_edge.statutes import store

    link = find_index(index, config)
    link = link.parent if link.name.endswith(".sqlite3") else link
    try:
        target = store.rollback(link)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{link} -> {target.name}; restart the server to use it")
