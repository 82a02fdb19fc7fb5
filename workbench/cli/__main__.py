"""`python -m workbench.cli`: the CLI (as the scheduled jobs call it)."""

from workbench.process import configure_process

configure_process()

from workbench.cli.main import app  # noqa: E402 - after the process is configured

app(prog_name="workbench")
