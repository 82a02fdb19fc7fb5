"""Command line: ``workbench ingest | stats | conversations | bench``.

A thin layer over ``Workbench``: parse options, call the API, print. Commands, options and JSON
fields are a contract with scripts outside this repository: add, never rename.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .api import Workbench
from .config import load_settings
from .store import StoreBusy
from .store.conversations import NotFound

app = typer.Typer(help="Conversation-memory workbench.", no_args_is_help=True)
conversations_app = typer.Typer(help="List, read, export, rename and delete conversations.")
bench_app = typer.Typer(help="Benchmarks: print a table and store the results.")
app.add_typer(conversations_app, name="conversations")
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {}


@app.callback()
def main(
    home: Optional[Path] = typer.Option(
        None, "--home", help="Workbench home (default: $WORKBENCH_HOME or data/workbench)."
    ),
) -> None:
    _state["home"] = home


def workbench() -> Workbench:
    overrides = {"home": _state["home"]} if _state.get("home") else {}
    return Workbench(load_settings(env_file=".env", **overrides))


def fail(message: str, code: int = 1) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command()
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

        results = bench.ingest(paths, workspace, format, progress)
    rejected = [r for r in results if r.status != "done"]
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        _print_import_summary([r for r in results if r.status == "done"])
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
        table.add_row(
            Path(r.path).name, r.format, str(r.conversations_added), str(r.conversations_updated),
            str(r.messages_added), str(r.messages_skipped), str(len(r.warnings)), f"{r.seconds:.2f}",
        )
    out.print(table)
    for r in results:
        for warning in r.warnings[:20]:
            err.print(f"warning: {Path(r.path).name}: {warning}", markup=False, highlight=False)
        if len(r.warnings) > 20:
            err.print(f"warning: {Path(r.path).name}: … and {len(r.warnings) - 20} more")


@app.command()
def stats(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts of workspaces, conversations, messages and imports."""
    result = workbench().stats(workspace)
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


@conversations_app.command("list")
def conversations_list(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    title: Optional[str] = typer.Option(None, "--filter", help="Only titles containing this."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Conversations, newest first."""
    items = workbench().conversations(workspace, title, limit)
    if as_json:
        emit_json([c.to_dict() for c in items])
        return
    table = Table()
    for column in ("id", "workspace", "title", "source", "messages", "created"):
        table.add_column(column)
    for c in items:
        created = c.created_at.strftime("%Y-%m-%d %H:%M") if c.created_at else ""
        table.add_row(c.id[:8], c.workspace, c.title or "(untitled)", c.source_format,
                      str(c.message_count), created)
    out.print(table)


@conversations_app.command("show")
def conversations_show(
    conversation: str = typer.Argument(..., help="Conversation id (or a unique prefix)."),
    all_branches: bool = typer.Option(False, "--all", help="Include inactive branches."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print a conversation's messages (active branch unless --all)."""
    bench = workbench()
    with _lookup():
        item = bench.conversation(conversation)
        messages = bench.messages(item.id, active_only=not all_branches)
    if as_json:
        payload = item.to_dict()
        payload["messages"] = [m.to_dict() for m in messages]
        emit_json(payload)
        return
    out.print(f"[b]{item.title or '(untitled)'}[/b]  {item.id}  ({item.workspace})")
    for m in messages:
        when = m.created_at.strftime("%Y-%m-%d %H:%M") if m.created_at else ""
        mark = "" if m.on_active_branch else " [dim](inactive)[/dim]"
        out.print(f"\n[cyan]{m.speaker or m.role}[/cyan] {when}{mark}")
        out.print(m.content, markup=False, highlight=False)


@conversations_app.command("export")
def conversations_export(
    conversation: str = typer.Argument(...),
    fmt: str = typer.Option("md", "--format", "-f", help="md or json"),
    output: Optional[Path] = typer.Option(None, "--output", "-o"),
) -> None:
    """Export a conversation as Markdown or JSON."""
    with _lookup():
        text = workbench().export_conversation(conversation, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@conversations_app.command("rename")
def conversations_rename(conversation: str, title: str) -> None:
    """Give a conversation a new title."""
    with _lookup():
        item = workbench().rename_conversation(conversation, title)
    out.print(f"renamed {item.id} to {item.title!r}", markup=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a conversation and its messages."""
    bench = workbench()
    with _lookup():
        item = bench.conversation(conversation)
        if not yes and sys.stdin.isatty():
            typer.confirm(f"Delete {item.title or item.id} and its messages?", abort=True)
        removed = bench.delete_conversation(item.id)
    out.print(f"deleted {item.id} ({removed} messages)", markup=False)


class _lookup:
    """Turn a missing conversation or a busy database into one error line and exit 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, (NotFound, StoreBusy, ValueError)):
            fail(str(exc).strip("'\""))
        return False


@bench_app.command("ingest")
def bench_ingest(
    messages: int = typer.Option(20000, "--messages", help="Size of the generated export."),
    fixtures: Optional[Path] = typer.Option(None, "--fixtures", help="Folder of real exports."),
) -> None:
    """Import throughput (messages/s) on real fixtures and a generated export."""
    from .bench import run_ingest_benchmark

    bench = workbench()
    rows, saved = run_ingest_benchmark(bench.settings, messages, fixtures)
    table = Table(title="ingest benchmark")
    for column in ("dataset", "format", "messages", "seconds", "messages/s"):
        table.add_column(column, justify="left" if column in {"dataset", "format"} else "right")
    for row in rows:
        table.add_row(row["dataset"], row["format"], str(row["messages"]), f"{row['seconds']:.3f}",
                      f"{row['messages_per_s']:,.0f}")
    out.print(table)
    err.print(f"results stored in {saved}")


if __name__ == "__main__":
    app()
