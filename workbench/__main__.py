"""`python -m workbench`: the CLI, for machines where the package is on PYTHONPATH only."""

from workbench.cli.main import app

app(prog_name="workbench")
