"""Reading a foreign SQLite file (an export, never the workbench's own store), read-only.

The original project's database and Open WebUI's ``webui.db`` arrive as SQLite files; their
importers read rows through here, so every SQL statement of the package stays under ``store/``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot modify the file; raises ``sqlite3.DatabaseError`` when the
    file is not a readable SQLite database (checked by reading its catalogue)."""
    con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        con.close()
        raise
    return con


def tables(con: sqlite3.Connection) -> dict[str, set[str]]:
    """Each table's name with the names of its columns."""
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {n: {r[1] for r in con.execute(f'PRAGMA table_info("{_name(n)}")')} for n in names}


def rows(con: sqlite3.Connection, table: str, with_rowid: bool = False) -> list[dict[str, Any]]:
    """All rows of a table as dicts; ``with_rowid`` adds ``_rowid`` and keeps rowid order (the
    position stands in for it in a WITHOUT ROWID table; a real one in the row overrides it)."""
    if not with_rowid:
        return [dict(row) for row in con.execute(f'SELECT * FROM "{_name(table)}"')]
    try:
        cursor = con.execute(f'SELECT rowid AS _rowid, * FROM "{_name(table)}" ORDER BY rowid')
    except sqlite3.OperationalError:  # WITHOUT ROWID table
        cursor = con.execute(f'SELECT * FROM "{_name(table)}"')
    return [{"_rowid": i, **dict(row)} for i, row in enumerate(cursor)]


def _name(identifier: str) -> str:
    return identifier.replace('"', '""')
