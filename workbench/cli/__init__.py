"""The command line (Typer): a face over the Workbench door."""
