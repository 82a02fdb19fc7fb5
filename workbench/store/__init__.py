"""The source of truth: the ``Store`` protocol, its DuckDB and PostgreSQL implementations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import InvalidInput, StoreBusy
from workbench.store.database import DuckDBStore
from workbench.store.protocol import Conflict, Store

if TYPE_CHECKING:
    from workbench.config import Settings


def open_store(settings: "Settings", read_only: bool = False) -> Store:
    """The store the settings choose: PostgreSQL when ``database_url`` names one, else the
    home's DuckDB file (``read_only``: opened without migrating or taking the write lock; a
    PostgreSQL server needs no such care)."""
    if settings.database_url:
        from workbench.store.postgres import SCHEMES, PostgresStore, is_postgres_url

        if not is_postgres_url(settings.database_url):
            raise InvalidInput(f"database URL must start with {' or '.join(SCHEMES)}")
        return PostgresStore(settings.database_url)
    return DuckDBStore(settings.duckdb_path, settings.lock_timeout_s, settings.store_linger_s,
                       read_only)


__all__ = ["Conflict", "DuckDBStore", "Store", "StoreBusy", "open_store"]
