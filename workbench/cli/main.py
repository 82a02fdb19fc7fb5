"""Command line: ``workbench ingest | search | chat | stats | conversations | bench | eval``.

A thin layer over ``Workbench``: parse options, call the door, print. Commands, options and JSON
fields are a contract with scripts outside this repository: add, never rename. Each command
group lives in its own module; this one assembles them in the order ``--help`` lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from workbench.cli import chat, history, search
from workbench.cli import home as home_cli
from workbench.cli.migrate import migrate
from workbench.cli.bench import bench_app
from workbench.cli.common import Commands, cli_state, settings
from workbench.cli.conversations import conversations_app
from workbench.cli.evaluation import eval_app
from workbench.cli import holdout as _holdout  # noqa: F401  registers `eval holdout` on eval_app
from workbench.logs import configure_logging
from workbench.process import configure_process
from workbench.cli.schedule import schedule_app  # also registers `eval notebooks` on eval_app
from workbench.cli.server import api, mcp, users_app
from workbench.cli import ops

app = typer.Typer(cls=Commands, help="Conversation-memory workbench.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")
app.add_typer(schedule_app, name="schedule")
app.add_typer(users_app, name="users")
app.add_typer(ops.backup_app, name="backup")
app.command()(ops.restore)
app.command()(ops.doctor)
for command in (history.ingest, search.search, chat.chat, chat.serve, history.reindex,
                history.stats, history.maintain, api, mcp, migrate):
    app.command()(command)
app.command()(home_cli.permissions)
for command in (ops.encrypt, ops.decrypt, ops.lock):
    app.command()(command)


@app.callback()
def main(
    context: typer.Context,
    home: Optional[Path] = typer.Option(
        None, "--home", help="Workbench home (default: $WORKBENCH_HOME or data/workbench)."
    ),
) -> None:
    configure_process()
    cli_state["home"] = home
    if context.invoked_subcommand in ops.ON_DISK:
        # They work on the home as it is on disk: no mount, and no log file written into a
        # cipher folder in clear.
        configure_logging(None, slow_ms=settings(unlock=False).slow_ms)
        return
    config = settings()
    configure_logging(config.home, slow_ms=config.slow_ms)


if __name__ == "__main__":
    app()
