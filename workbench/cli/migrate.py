"""``workbench migrate``: move this embedded home to a PostgreSQL server, and prove it arrived."""

from __future__ import annotations

import typer
from rich.table import Table

from workbench.cli.common import emit_json, err, fail, out, progress_printer, settings


def migrate(
    to: str = typer.Option(..., "--to", help="postgresql://user:password@host:port/database, "
                           "or the folder of a new home (from WORKBENCH_DATABASE_URL)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Copy this home (every table, ids unchanged, vectors copied, nothing re-embedded) to
    PostgreSQL, or the PostgreSQL database of WORKBENCH_DATABASE_URL into a new home folder;
    then count and hash each table on both sides. Run it again after an interruption: it
    resumes. Stop other workbench processes on this home first."""
    from pathlib import Path

    from workbench.migrate import migrate_home, migrate_to_home
    from workbench.store.postgres import is_postgres_url

    config = settings()
    if is_postgres_url(to) or "://" in to or not is_postgres_url(config.database_url):
        report = migrate_home(config, to, progress_printer())
    else:
        report = migrate_to_home(config, Path(to), progress_printer())
    if as_json:
        emit_json(report.to_dict())
    else:
        table = Table("table", "rows here", "rows there", "digest here", "digest there", "copied",
                      "same", title=f"migrated to {report.target}")
        for t in report.tables:
            table.add_row(t.name, str(t.source_rows), str(t.target_rows), t.source_digest[:12],
                          t.target_digest[:12], "yes" if t.copied else "earlier",
                          "yes" if t.same else "[red]NO[/red]")
        out.print(table)
        rate = report.rows_copied / report.seconds if report.seconds else 0.0
        err.print(f"{report.rows_copied} rows copied in {report.seconds:.1f} s ({rate:,.0f} rows/s)",
                  highlight=False)
    if not report.ok:
        fail("the copy differs from this home in the tables marked NO")
