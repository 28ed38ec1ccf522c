"""``legal-edge feedback``: export lawyers' feedback for retraining, statistics, purge."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from legal_edge.feedback.export import export, report_path
from legal_edge.feedback.store import DAY, FeedbackStore

# -- CLI ----------------------------------------------------------------------------------------


def open_store(db: Path | None, config: Path | None) -> FeedbackStore:
    from legal_edge.settings.loader import ConfigError
    from legal_edge.settings.server import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    path = db or settings.feedback_db
    if path is None:
        raise click.ClickException("no feedback store: pass --db or set feedback_db in the config")
    if not Path(path).is_file():
        raise click.ClickException(f"feedback store not found: {path}")
    return FeedbackStore(path, settings.response_retention_days, settings.request_log_days)


_db_option = click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite feedback store [the config's feedback_db].",
)
_config_option = click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="Server YAML config (for feedback_db and retention).",
)


@click.group("feedback")
def feedback_group() -> None:
    """Turn lawyers' feedback into training data; inspect and purge the response store."""


@feedback_group.command("export")
@_db_option
@_config_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="JSONL to write (messages format, read by legal-recipes prepare-data).",
)
@click.option(
    "--include-positive",
    is_flag=True,
    help="Also keep answers rated 'up' as they were (default: corrections only).",
)
@click.option("--since-days", type=float, default=0.0, help="Only feedback from the last N days.")
@click.option("--license", "license_", default="office-internal", show_default=True)
def export_command(
    db: Path | None,
    config: Path | None,
    out: Path,
    include_positive: bool,
    since_days: float,
    license_: str,
) -> None:
    """Write corrections as training rows; negative ratings without one go to the report."""
    store = open_store(db, config)
    since = time.time() - since_days * DAY if since_days > 0 else 0.0
    rep = export(store, out, include_positive=include_positive, since=since, license=license_)
    click.echo(f"{rep.training_rows} training rows -> {out}")
    click.echo(
        f"{len(rep.negatives_without_correction)} negative ratings without a correction "
        f"(not trained on; listed in {report_path(out)})"
    )
    for reason, n in sorted(rep.skipped.items()):
        click.echo(f"{n} skipped: {reason}")


@feedback_group.command("stats")
@_db_option
@_config_option
def stats_command(db: Path | None, config: Path | None) -> None:
    """Count stored responses and feedback by rating and variant."""
    store = open_store(db, config)
    click.echo(json.dumps(store.counts()))
    for r in store.rows(
        "SELECT variant, rating, COUNT(*) AS n, SUM(correction IS NOT NULL) "
        "AS corrected FROM feedback GROUP BY variant, rating "
        "ORDER BY variant, rating"
    ):
        click.echo(
            f"variant={r['variant']} rating={r['rating']} n={r['n']} corrected={r['corrected']}"
        )


@feedback_group.command("purge")
@_db_option
@_config_option
def purge_command(db: Path | None, config: Path | None) -> None:
    """Apply the retention windows now (the server also does this hourly)."""
    click.echo(json.dumps(open_store(db, config).purge()))
