"""DuckDB, the source of truth: connection handling, migrations, conversation CRUD, imports."""

from workbench.store.database import Store

__all__ = ["Store"]
