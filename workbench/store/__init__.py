"""The source of truth: the ``Store`` protocol and its DuckDB implementation."""

from workbench.errors import StoreBusy
from workbench.store.database import DuckDBStore
from workbench.store.protocol import Conflict, Store

__all__ = ["Conflict", "DuckDBStore", "Store", "StoreBusy"]
