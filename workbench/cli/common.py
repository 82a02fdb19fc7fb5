"""What every command module shares: consoles, the workbench the options name, error lines."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from workbench.config import load_settings
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.api import Workbench

# Into a file, a pipe or a CI log, rich assumes 80 columns and cuts the wider benchmark tables.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
err = Console(stderr=True)
cli_state: dict[str, Any] = {}


def settings(unlock: bool = True, **overrides: Any):
    if cli_state.get("home"):
        overrides["home"] = cli_state["home"]
    return load_settings(env_file=".env", unlock=unlock, **overrides)


def workbench(read_only: bool = False, **overrides: Any) -> Workbench:
    """The workbench of the home the options name, closed when the command ends; a command
    that only reads opens it ``read_only``."""
    # Imported here: the stores load DuckDB and LanceDB, which `--help` and `bench embed` never use.
    from workbench.api import Workbench

    opened = Workbench(settings(**overrides), read_only=read_only)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(opened.close)
    return opened


def fail(message: str, code: int = 1) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


def progress_printer():
    last: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if err.is_terminal and (done == total or done - last.get(stage, 0) >= 512):
            last[stage] = done
            err.print(f"{stage}: {done}/{total}", highlight=False)

    return progress


class Commands(TyperGroup):
    """The root command group: a ``WorkbenchError`` from any command becomes ``error: ...`` on
    stderr and exit status 1; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            fail(str(exc).strip("'\""))
