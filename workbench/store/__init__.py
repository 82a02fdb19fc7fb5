"""DuckDB, the source of truth: connection handling, migrations, conversation CRUD, imports."""

from .database import Store, StoreBusy

__all__ = ["Store", "StoreBusy"]
