"""``workbench permissions``: who besides its owner may read the home, and taking that away."""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cli.common import err, out, settings
from workbench.home import exposed, tighten

SHOWN = 20


def permissions(
    fix: bool = typer.Option(False, "--fix", help="Make the home and all in it owner-only."),
) -> None:
    """List what in the home its owner's group or other users may read (exit 1 if any);
    with --fix, take those permissions away."""
    home = settings().home
    if fix:
        changed = tighten(home)
        out.print(f"{home}: {len(changed)} entries made owner-only", markup=False, highlight=False)
        return
    loose = exposed(home)
    for path in loose[:SHOWN]:
        out.print(f"{oct(path.lstat().st_mode & 0o777)} {path}", markup=False, highlight=False)
    if len(loose) > SHOWN:
        out.print(f"… and {len(loose) - SHOWN} more", markup=False, highlight=False)
    if loose:
        err.print(f"error: {home}: {len(loose)} entries readable by others (fix: workbench "
                  "permissions --fix)", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"{home}: owner-only", markup=False, highlight=False)


def warn_exposed(home: Path) -> None:
    """One warning line when the home is not private, for commands that look at it."""
    loose = exposed(home)
    if loose:
        err.print(f"warning: {home}: {len(loose)} entries readable by other users (fix: "
                  "workbench permissions --fix)", markup=False, highlight=False, soft_wrap=True)
