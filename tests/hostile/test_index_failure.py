"""A file stored but not indexed is reported as such, and the next run indexes it.

The index's folder is made read-only or full for the import's process, for real (a mount in
the process's own namespace as root): nothing in the workbench is patched.
"""

from __future__ import annotations

import pytest

from blocked import full, read_only
from conftest import run_workbench
from hostile_files import chatgpt, write_json
from workbench import Workbench

pytestmark = pytest.mark.slow


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("blocked", [read_only, full], ids=["read-only", "full"])
def test_a_file_whose_indexing_fails_is_not_reported_imported_and_maintain_indexes_it(
        tmp_path, blocked, embedder, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    home = tmp_path / "home"
    first = write_json(tmp_path / "a.json", [chatgpt("c-a", "alpha otter sails north")])
    later = write_json(tmp_path / "c.json", [chatgpt("c-c", "gamma quokka paints walls")])
    with Workbench.open(home, embedder) as wb:
        assert wb.imports.ingest([first])[0].status == "done"
    with blocked(home / "lancedb") as prefix:
        proc = run_workbench(home, "ingest", later, prefix=prefix)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    [line] = _errors(proc.stderr)
    assert line.startswith(f"error: {later}: stored, but not indexed ("), line
    assert ".rs:" not in line  # LanceDB's source locations are not the user's business
    assert "not indexed" in proc.stdout  # the summary does not call it imported

    with Workbench.open(home, embedder) as wb:
        assert wb.stats()["conversations"] == 2  # stored: the whole file, in one transaction
        assert not _found(wb, "gamma quokka paints", "quokka")
        assert wb.search.maintain().chunks_indexed >= 1
        assert _found(wb, "gamma quokka paints", "quokka")
        assert _found(wb, "alpha otter sails", "otter")
        [again] = wb.imports.ingest([later])
        assert again.status == "done" and again.messages_skipped == 2


def _found(wb: Workbench, query: str, word: str) -> bool:
    return any(word in hit.text for hit in wb.search.query(query, k=3).hits)
