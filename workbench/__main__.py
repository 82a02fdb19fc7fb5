"""`python -m workbench`: the CLI, for machines where the package is on PYTHONPATH only."""

from .cli import app

app(prog_name="workbench")
