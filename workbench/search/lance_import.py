"""``import lancedb`` without the REST namespace client it never uses for a folder.

``lancedb.db`` imports ``lance_namespace``, whose models come from the generated OpenAPI package
``lance_namespace_urllib3_client``. That package's ``__init__`` also imports its nine HTTP API
classes, each method wrapped by pydantic's ``validate_call``: most of the cost of ``import
lancedb``, paid by every one-shot command, for a REST client that only ``lance``'s own
``RestNamespace`` (a remote catalogue) would use. A home's index is a local folder opened with
``lancedb.connect(path)``; nothing on that path reaches the package's top-level names.

So before lancedb is imported, the package is registered without running its ``__init__``: its
submodules (``.models``, which ``lance_namespace`` does import) load as usual from its
``__path__``, and the first lookup of a top-level name (``ApiClient``, ``TableApi``, ...) runs the
real ``__init__`` then, so nothing that needs the client can break — it only pays later.
``importlib.util.LazyLoader`` does not do this: the import system reads the parent's
``__path__`` to find ``.models``, and that first attribute access would run the whole
``__init__`` at once.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

REST_CLIENT = "lance_namespace_urllib3_client"


def defer_package_init(name: str) -> None:
    """Register package ``name`` with its ``__init__`` left to run on the first lookup of a
    name it defines; nothing happens if it is imported already or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    ran = False

    def __getattr__(attribute: str) -> object:
        nonlocal ran
        if not ran and not attribute.startswith("__"):
            ran = True
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            if attribute in module.__dict__:
                return module.__dict__[attribute]
        raise AttributeError(f"module {name!r} has no attribute {attribute!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module


def import_lancedb() -> ModuleType:
    """The ``lancedb`` module, its REST namespace client's ``__init__`` deferred."""
    defer_package_init(REST_CLIENT)
    import lancedb

    return lancedb
