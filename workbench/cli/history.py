"""``workbench ingest | reindex | stats``: what goes into the store and the index."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.cli.common import progress_printer, emit_json, err, out, workbench
from workbench.cli.home import warn_exposed


def ingest(
    paths: list[Path] = typer.Argument(..., help="Export files: json, jsonl, csv, zip, SQLite."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w", help="Target workspace."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Skip detection."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Import exports into the store: each file whole or not at all, re-imports add nothing."""
    bench = workbench()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        results = bench.imports.ingest(paths, workspace, format, progress)
    rejected = [r for r in results if r.status != "done"]
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        _print_import_summary(results)
    for result in rejected:
        err.print(f"error: {result.error}", markup=False, highlight=False, soft_wrap=True)
    if rejected:
        raise typer.Exit(1)


def _print_import_summary(results: list) -> None:
    if not results:
        return
    table = Table(title="import")
    table.caption = "+ added  ~ updated  = already present"
    table.add_column("file", overflow="fold")
    table.add_column("format")
    for column in ("conv +", "conv ~", "msgs +", "msgs =", "warn", "sec"):
        table.add_column(column, justify="right")
    for r in results:
        if r.status == "rejected":  # its error line follows the table
            table.add_row(Path(r.path).name, r.status, *[""] * 6)
            continue
        stored = r.format if r.status == "done" else f"{r.format}, {r.status.replace('_', ' ')}"
        table.add_row(
            Path(r.path).name, stored, str(r.conversations_added), str(r.conversations_updated),
            str(r.messages_added), str(r.messages_skipped), str(len(r.warnings)), f"{r.seconds:.2f}",
        )
    out.print(table)
    for r in results:
        for warning in r.warnings[:20]:
            err.print(f"warning: {Path(r.path).name}: {warning}", markup=False, highlight=False)
        if len(r.warnings) > 20:
            err.print(f"warning: {Path(r.path).name}: … and {len(r.warnings) - 20} more")


def reindex(
    chunker: Optional[str] = typer.Option(None, "--chunker"),
) -> None:
    """Drop the derived LanceDB index and rebuild it from DuckDB."""
    report = workbench().search.reindex(chunker, progress=progress_printer())
    out.print(f"indexed {report.chunks_embedded} chunks in {report.seconds:.1f} s")


def stats(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts of workspaces, conversations, messages and imports."""
    bench = workbench(read_only=True)
    result = bench.stats(workspace)
    warn_exposed(bench.settings.home)
    if as_json:
        emit_json(result)
        return
    table = Table(title="workbench")
    for column in ("workspace", "conversations", "messages"):
        table.add_column(column, justify="left" if column == "workspace" else "right")
    for space in result["per_workspace"]:
        table.add_row(space["name"], str(space["conversations"]), str(space["messages"]))
    table.add_row("[b]total[/b]", str(result["conversations"]), str(result["messages"]))
    out.print(table)


def maintain(
    chunker: Optional[str] = typer.Option(None, "--chunker"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Index what the store holds that the index lacks (an import whose indexing failed), fold
    the chat's appends into the indexes, rebuild the vector index if it is in too many pieces
    (an import's indexing does this too; the scheduled evaluation runs it first)."""
    report = workbench().search.maintain(chunker)
    if as_json:
        emit_json(report.to_dict())
        return
    indexed = f"{report.chunks_indexed} chunks indexed; " if report.chunks_indexed else ""
    out.print(f"{indexed}{report.rows} rows; vector index in {report.pieces_before} → "
              f"{report.pieces_after} pieces{' (rebuilt)' if report.rebuilt else ''}; "
              f"{report.seconds:.1f} s")
