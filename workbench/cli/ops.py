"""``workbench backup [verify]``, ``workbench restore``: a home's operations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from workbench.cli.common import emit_json, err, fail, out, settings
from workbench.errors import InvalidInput

# Commands that work on the home as it is on disk, never through its mount.
ON_DISK = ("encrypt", "decrypt", "lock")

backup_app = typer.Typer(help="Back up this home (a consistent snapshot, safe while it runs).",
                         invoke_without_command=True)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


@backup_app.callback()
def backup(
    context: typer.Context,
    to: Optional[Path] = typer.Option(
        None, "--to", file_okay=False, help="Folder of the backups (default: HOME/backups)."),
    keep_daily: int = typer.Option(7, "--keep-daily", min=0,
                                   help="Keep the newest backup of this many days."),
    keep_weekly: int = typer.Option(4, "--keep-weekly", min=0,
                                    help="Keep the newest backup of this many ISO weeks."),
    as_json: bool = typer.Option(False, "--json", help="Print the backup as JSON."),
) -> None:
    """Snapshot the database and the index into a new folder, then prune old backups."""
    if context.invoked_subcommand is not None:
        return
    from workbench.ops.backup import default_folder
    from workbench.ops.retention import prune
    from workbench.ops.sealed import backup as take_backup

    config = settings()
    report = take_backup(config, to)
    report.removed += prune(Path(to or default_folder(config)), keep_daily, keep_weekly)
    if as_json:
        emit_json(report.to_dict())
        return
    rows = report.tables.get("messages", {}).get("rows", 0)
    chunks = sum(t["rows"] for t in report.index.values())
    out.print(f"{report.path}  {_mib(report.bytes)}  {rows} messages, {chunks} indexed chunks; "
              f"{report.timings['total_s']:.2f} s (database locked {report.timings['lock_s']:.2f}"
              " s)", markup=False, highlight=False, soft_wrap=True)
    for name in report.removed:
        err.print(f"removed {name}", markup=False, highlight=False)


@backup_app.command("verify")
def backup_verify(
    path: Path = typer.Argument(..., help="A backup folder."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Restore into a temporary home and compare every table's count and hash."""
    from workbench.ops.sealed import verify

    config = settings()
    report = verify(path, config.database_url, config.pg_bin)
    if as_json:
        emit_json({"ok": True, **report.to_dict()})
        return
    out.print(f"{path}: ok · {len(report.tables)} tables, {len(report.index)} index tables, "
              f"{_mib(report.bytes)}, restored and compared in {report.seconds:.2f} s",
              markup=False, highlight=False, soft_wrap=True)


def restore(
    path: Path = typer.Argument(..., help="A backup folder."),
    home: Optional[Path] = typer.Option(
        None, "--home", help="The home to restore into (a new folder)."),
    force: bool = typer.Option(False, "--force", help="Replace a home that holds a workbench."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="A PostgreSQL backup: the database to restore into."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Restore a backup into a new home (checked against its manifest before anything moves)."""
    from workbench.ops.sealed import restore as run_restore
    from workbench.store.postgres.connection import redacted

    try:
        report = run_restore(path, home, force, database_url, settings().pg_bin)
    except InvalidInput as exc:
        if force or "already holds" not in str(exc):
            raise
        fail(f"{exc}; --force replaces it")
    if as_json:
        emit_json(report.to_dict())
        return
    rows = report.tables.get("messages", {}).get("rows", 0)
    where = home if report.home is not None else redacted(database_url or "")
    out.print(f"restored {path} into {where}: {rows} messages, {_mib(report.bytes)} in "
              f"{report.seconds:.2f} s", markup=False, highlight=False, soft_wrap=True)


def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Sizes and growth, index freshness, ledger vs index, the slowest recent operations.

    Exit 1 when a check fails (rows that lost their parent); warnings exit 0."""
    from rich.table import Table

    from workbench.cli.common import workbench
    from workbench.ops.doctor import examine

    report = examine(workbench())
    if as_json:
        emit_json(report.to_dict())
    else:
        sizes = Table(title=f"sizes{' (growth since ' + report.since[:16] + ')' if report.since else ''}")
        for column in ("what", "size", "growth"):
            sizes.add_column(column, justify="left" if column == "what" else "right")
        for name, size in report.sizes.items():
            delta = report.growth.get(name)
            sizes.add_row(name, _mib(size), "" if delta is None else f"{delta / (1 << 20):+.1f} MiB")
        out.print(sizes)
        checks = Table(title=f"checks: {report.status}")
        for column in ("check", "status", "detail"):
            checks.add_column(column)
        for check in report.checks:
            checks.add_row(check.name, check.status, check.detail)
        out.print(checks)
        if report.slowest:
            slow = Table(title="slowest recent operations")
            for column in ("when", "operation", "ms", "shape"):
                slow.add_column(column)
            for op in report.slowest:
                shape = ", ".join(f"{k}={v}" for k, v in (op["shape"] or {}).items())
                slow.add_row(str(op["ts"])[:19], str(op["op"]), f"{op['duration_ms']:.0f}", shape)
            out.print(slow)
    if report.status == "fail":
        raise typer.Exit(1)


def encrypt(
    home: Optional[Path] = typer.Option(None, "--home", help="The home (default: the global one)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Encrypt this home (gocryptfs) with WORKBENCH_ENCRYPTION_KEY; stop its other users first."""
    from workbench.ops.encrypt_home import encrypt as run_encrypt

    _convert(run_encrypt, "encrypted", home, as_json)


def decrypt(
    home: Optional[Path] = typer.Option(None, "--home", help="The home (default: the global one)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Turn this encrypted home back into a plain one (needs its key)."""
    from workbench.ops.encrypt_home import decrypt as run_decrypt

    _convert(run_decrypt, "decrypted", home, as_json)


def _convert(run, done: str, home: Optional[Path], as_json: bool) -> None:
    report = run(home or settings(unlock=False).home)
    if as_json:
        emit_json(report)
        return
    out.print(f"{report['home']}: {done} ({report['files']} files and "
              f"{sum(report['tables'].values())} database rows copied and checked)",
              markup=False, highlight=False, soft_wrap=True)


def lock(
    home: Optional[Path] = typer.Option(None, "--home", help="The home (default: the global one)."),
) -> None:
    """Unmount this encrypted home: its files are unreadable until the next command opens it."""
    from workbench.ops.encryption import lock as run_lock

    home = home or settings(unlock=False).home
    state = "locked" if run_lock(home) else "was not open"
    out.print(f"{home}: {state}", markup=False, highlight=False, soft_wrap=True)
