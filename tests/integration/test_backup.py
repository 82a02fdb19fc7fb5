"""Backups taken while the home is written to, restored, verified; killed ones and bad input."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES, Cli, copy_home, mounted_tmpfs, run_workbench, wait_until
from tests.fake_openai import FakeOpenAI
from workbench import Workbench
from workbench.config import load_settings
from workbench.errors import BackupInvalid
from workbench.ops.backup import MANIFEST, backups, take_backup
from workbench.ops.restore import restore, verify
from workbench.search import snapshot as index_snapshot
from workbench.store.snapshot import file_digests

INCOMING = ["claude_trimmed.json", "chatgpt_2025_linear.json", "openwebui_chat.json"]
QUERIES = ["backup every day", "pgvector index", "trip to Lisbon", "como configurar o banco"]


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256: what 'nothing changed' compares."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _hits(wb: Workbench, workspace: str | None = None) -> list[list[tuple[str, str, float]]]:
    return [[(h.message_id, h.workspace, round(h.score, 6)) for h in wb.search.query(q, workspace, k=10).hits]
            for q in QUERIES]


def _messages_in(home: Path, workspace: str) -> int:
    con = duckdb.connect(str(home / "workbench.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM messages m JOIN conversations c ON "
                           "c.id = m.conversation_id JOIN workspaces w ON w.id = c.workspace_id "
                           "WHERE w.name = ?", [workspace]).fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def source(indexed_home: Path, tmp_path: Path) -> Path:
    return copy_home(indexed_home, tmp_path / "source")


CHATS = ["What did we decide about backups?", "Which database did we pick?", "Remind me of the trip"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_backup_during_an_import_and_chat_turns_restores_the_snapshot(source, tmp_path, embedder):
    folder = tmp_path / "backups"
    with FakeOpenAI() as llm:
        env = {**os.environ, "WORKBENCH_HOME": str(source), "WORKBENCH_LLM_BASE_URL": llm.base_url,
               "WORKBENCH_LLM_MODEL": llm.model}
        writers = [subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "ingest", "--workspace", "incoming",
             *[FIXTURES / name for name in INCOMING]],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
        # The chat turns, one process each, one after another, beside the import.
        writers.append(subprocess.Popen(
            ["/bin/sh", "-c", 'for q in "$@"; do "$0" -m workbench.cli chat -w default "$q" '
             '|| exit 1; done', sys.executable, *CHATS],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        taken = []
        while any(w.poll() is None for w in writers) or not taken:
            taken.append(take_backup(load_settings(home=source), folder))
            time.sleep(0.5)  # leave the writers room to write
        for writer in writers:
            assert writer.wait() == 0, writer.stderr.read()
    assert len(llm.requests) == len(CHATS)
    final = take_backup(load_settings(home=source), folder)

    # Each import and each turn is one transaction: a snapshot holds all of a file's messages
    # or none.
    added = [r["messages_added"] for r in _imports(source) if r["workspace"] == "incoming"]
    whole = {sum(added[:n]) for n in range(len(added) + 1)}
    for n, report in enumerate(taken):
        restored = tmp_path / f"restored-{n}"
        result = restore(report.path, restored)  # compares counts and hashes with the manifest
        assert result.tables == report.tables
        assert _messages_in(restored, "incoming") in whole
        chunk_ids = _chunk_ids(restored)
        for table in index_snapshot.versions(restored / "lancedb"):
            rows = _index_chunk_ids(restored, table)
            assert rows <= chunk_ids, "the index holds a chunk the snapshot lacks"

    # Quiet now: the last backup equals the source, table by table, and answers the same.
    restored = tmp_path / "restored-final"
    restore(final.path, restored)
    assert {k: v.to_dict() for k, v in file_digests(restored / "workbench.duckdb").items()} \
        == {k: v.to_dict() for k, v in file_digests(source / "workbench.duckdb").items()}
    assert _messages_in(restored, "incoming") == sum(added) > 0
    assert _messages_in(restored, "default") == _messages_in(source, "default")
    with Workbench.open(source, embedder, search_mirror=False) as wb:
        expected = _hits(wb) + _hits(wb, "default")
    with Workbench.open(restored, embedder, search_mirror=False) as wb:
        assert _hits(wb) + _hits(wb, "default") == expected
        assert wb.search.index_pending().chunks_embedded == 0


def _imports(home: Path) -> list[dict]:
    con = duckdb.connect(str(home / "workbench.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT workspace, messages_added FROM imports ORDER BY finished_at")
        return [{"workspace": w, "messages_added": n} for w, n in rows.fetchall()]
    finally:
        con.close()


def _chunk_ids(home: Path) -> set[str]:
    con = duckdb.connect(str(home / "workbench.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT id FROM chunks").fetchall()}
    finally:
        con.close()


def _index_chunk_ids(home: Path, table: str) -> set[str]:
    import lancedb

    data = lancedb.connect(str(home / "lancedb")).open_table(table).to_arrow()
    return set(data.column("chunk_id").to_pylist())


@pytest.mark.timeout(300)
def test_a_killed_backup_never_looks_complete(source, tmp_path):
    folder = tmp_path / "backups"
    # Holding the database makes the backup wait, with its folder begun: kill it there.
    holder = duckdb.connect(str(source / "workbench.duckdb"))
    env = {**os.environ, "WORKBENCH_HOME": str(source)}
    backup = subprocess.Popen([sys.executable, "-m", "workbench.cli", "backup", "--to", folder],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: list(source.glob("workbench.duckdb.wait.*")), 120)
        partial = list(folder.glob(".workbench-*.partial"))
        assert len(partial) == 1
        os.kill(backup.pid, signal.SIGKILL)
        backup.wait()
    finally:
        holder.close()
    assert backups(folder) == []
    assert not list(folder.rglob(MANIFEST))
    with pytest.raises(BackupInvalid, match="incomplete backup"):
        verify(partial[0])

    report = take_backup(load_settings(home=source), folder)
    assert backups(folder) == [report.path]
    assert not partial[0].exists()
    assert verify(report.path).tables == report.tables


@pytest.fixture
def one_backup(source, tmp_path) -> Path:
    return take_backup(load_settings(home=source), tmp_path / "backups").path


def _corrupt_database(backup: Path) -> None:
    path = backup / "workbench.duckdb"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _no_manifest(backup: Path) -> None:
    (backup / MANIFEST).unlink()


def _bad_manifest(backup: Path) -> None:
    (backup / MANIFEST).write_text("{not json")


def _missing_file(backup: Path) -> None:
    next((backup / "lancedb").rglob("*.manifest")).unlink()


@pytest.mark.parametrize("damage, message", [
    (_corrupt_database, "workbench.duckdb is corrupt"),
    (_no_manifest, "incomplete backup"),
    (_bad_manifest, "unreadable manifest"),
    (_missing_file, "is missing"),
])
def test_a_damaged_backup_is_refused_and_changes_nothing(one_backup, tmp_path, cli, damage,
                                                         message):
    damage(one_backup)
    before = _tree(one_backup)
    target = tmp_path / "target"
    for args in (["backup", "verify", one_backup], ["restore", one_backup, "--home", target]):
        result = cli(*args, ok=False)
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {one_backup}") and message in line, line
    assert not target.exists() and _tree(one_backup) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".target")] == []


def test_restore_refuses_a_missing_backup_and_an_existing_home(one_backup, source, tmp_path, cli):
    missing = cli("restore", tmp_path / "nope", "--home", tmp_path / "new", ok=False)
    assert missing.exit_code == 1 and missing.stderr.strip() == \
        f"error: {tmp_path / 'nope'}: no such backup"
    assert not (tmp_path / "new").exists()

    before = _tree(source)
    refused = cli("restore", one_backup, "--home", source, ok=False)
    [line] = refused.stderr.strip().splitlines()
    assert refused.exit_code == 1 and "already holds a workbench" in line and "--force" in line
    assert _tree(source) == before

    cli("restore", one_backup, "--home", source, "--force")
    assert verify(one_backup).tables == {k: v.to_dict() for k, v in
                                         file_digests(source / "workbench.duckdb").items()}


@pytest.mark.timeout(300)
def test_restore_refuses_a_home_in_use(one_backup, source, tmp_path):
    # Another process has the home's database open (as the app would).
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(source / "workbench.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = _tree(source)
        result = run_workbench(tmp_path, "restore", one_backup, "--home", source, "--force")
        after = _tree(source)
    finally:
        holder.communicate("")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line == f"error: {source}: its database is open in another process; stop it first"
    assert after == before


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a backup or a restore fills it (needs root to mount)."""
    yield from mounted_tmpfs(tmp_path / "small", "2m")


def test_a_full_disk_fails_with_one_line_and_leaves_nothing(one_backup, source, small_disk, cli):
    before = _tree(source)
    result = Cli(source)("backup", "--to", small_disk / "b", ok=False)
    [line] = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and "the backup could not be written (No space left" in line
    assert [p.name for p in (small_disk / "b").iterdir()] == [".lock"]
    assert _tree(source) == before

    restored = cli("restore", one_backup, "--home", small_disk / "home", ok=False)
    [line] = restored.stderr.strip().splitlines()
    assert restored.exit_code == 1 and "the restore could not be written (No space left" in line
    assert [p.name for p in small_disk.iterdir()] == ["b"]
