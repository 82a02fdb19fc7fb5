"""``workbench conversations``: list, read, export, rename and delete conversations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from workbench.cli.common import emit_json, err, out, workbench

conversations_app = typer.Typer(help="List, read, export, rename and delete conversations.")


@conversations_app.command("list")
def conversations_list(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    title: Optional[str] = typer.Option(None, "--filter", help="Only titles containing this."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Conversations, newest first."""
    items = workbench(read_only=True).conversations.list(workspace, title, limit)
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
    bench = workbench(read_only=True)
    item = bench.conversations.get(conversation)
    messages = bench.conversations.messages(item.id, active_only=not all_branches)
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
    text = workbench(read_only=True).conversations.export(conversation, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@conversations_app.command("rename")
def conversations_rename(conversation: str, title: str) -> None:
    """Give a conversation a new title."""
    item = workbench().conversations.rename(conversation, title)
    out.print(f"renamed {item.id} to {item.title!r}", markup=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a conversation and its messages."""
    bench = workbench()
    item = bench.conversations.get(conversation)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {item.title or item.id} and its messages?", abort=True)
    removed = bench.conversations.delete(item.id)
    out.print(f"deleted {item.id} ({removed} messages)", markup=False)
