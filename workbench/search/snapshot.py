"""The LanceDB index copied as of one version per table, and digests of what a table holds.

A Lance table is a folder of immutable data and index files plus one manifest per version, so
a copy made while others write is consistent once it is rolled back to the version read at
the snapshot's moment: manifests are copied first (a manifest is only written after the files
it names), then every other file, then a newer version the copy caught is undone in the copy.
Only a cleanup of old versions (LanceDB's ``optimize`` prunes versions a week old) can remove
a file mid-copy; the copy then fails and the backup can simply be taken again.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

from workbench.search.lance_import import import_lancedb

lancedb = import_lancedb()  # at import time, not under the database's lock

SUFFIX = ".lance"


def _tables(path: Path) -> list[str]:
    if not path.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in path.iterdir()
                  if p.is_dir() and p.name.endswith(SUFFIX))


def versions(path: Path) -> dict[str, int]:
    """The latest version of every table in the LanceDB folder ``path``."""
    names = _tables(path)
    if not names:
        return {}
    db = lancedb.connect(str(path))
    return {name: db.open_table(name).version for name in names}


def copy_tables(path: Path, target: Path, wanted: dict[str, int]) -> None:
    """Copy each table of ``wanted`` into ``target``, as of its version there."""
    target.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        source, copy = path / f"{name}{SUFFIX}", target / f"{name}{SUFFIX}"
        manifests = source / "_versions"
        shutil.copytree(manifests, copy / "_versions")
        shutil.copytree(source, copy, ignore=lambda folder, _: ["_versions"]
                        if Path(folder) == source else [], dirs_exist_ok=True)
    db = lancedb.connect(str(target))
    for name, version in wanted.items():
        table = db.open_table(name)
        if table.version != version:
            table.checkout(version)
            table.restore()


def digests(path: Path) -> dict[str, dict[str, object]]:
    """Per table: rows and a hash of the chunk ids and vectors, in chunk id order."""
    names = _tables(path)
    if not names:
        return {}
    db = lancedb.connect(str(path))
    found = {}
    for name in names:
        table = db.open_table(name)
        data = table.search().select(["chunk_id", "vector"]).limit(None).to_arrow()
        data = data.sort_by("chunk_id")
        digest = hashlib.sha256()
        for chunk_id in data.column("chunk_id").to_pylist():
            digest.update(chunk_id.encode() + b"\0")
        vectors = data.column("vector").combine_chunks()
        if len(vectors):
            flat = vectors.values.to_numpy(zero_copy_only=False)
            digest.update(np.ascontiguousarray(flat, dtype=np.float32).tobytes())
        found[name] = {"rows": data.num_rows, "hash": digest.hexdigest()}
    return found
