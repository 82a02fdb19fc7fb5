"""`python -m workbench`: the CLI, for machines where the package is on PYTHONPATH only."""

from workbench.process import configure_process

configure_process()

from workbench.cli.main import app  # noqa: E402 - after the process is configured

app(prog_name="workbench")
