"""`python -m workbench.cli`: the CLI (as the scheduled jobs call it)."""

from workbench.cli.main import app

app(prog_name="workbench")
