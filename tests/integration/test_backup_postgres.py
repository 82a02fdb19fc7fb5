"""Backups of a PostgreSQL store with the same commands: ``pg_dump`` at one snapshot, verified
in a scratch database, restored into another database that then answers the same searches."""

from __future__ import annotations

import json
import threading

import pytest

from conftest import FIXTURES, Cli, ingest_into
from workbench import Workbench
from workbench.errors import BackupFailed
from workbench.ops import pg_backup
from workbench.ops.backup import MANIFEST, backups

QUERIES = ["backup do banco todo dia", "cron job", "how do I plan the trip"]
LAYOUT = {"default": ["legacy_nosso_projeto.db", "chatgpt_2025_linear.json"]}


def _hits(wb: Workbench) -> list[list[tuple[str, float]]]:
    return [[(h.message_id, round(h.score, 6)) for h in wb.search.query(q, "default", k=8).hits]
            for q in QUERIES]


def _new_database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pg_backup_verifies_and_restores_to_the_same_answers(tmp_path, embedder, postgres_server,
                                                             postgres_url, monkeypatch):
    home = tmp_path / "home"
    with ingest_into(home, LAYOUT, embedder, database_url=postgres_url) as wb:
        wb.search.index_pending()
        before, stats = _hits(wb), wb.stats()
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    cli = Cli(home)
    report = cli.json("backup", "--to", tmp_path / "backups")
    [path] = backups(tmp_path / "backups")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["backend"] == "postgresql" and set(manifest["files"]) == {pg_backup.DUMP}
    assert report["tables"]["messages"]["rows"] == stats["messages"] > 0
    assert any(name.startswith("index_chunks__") and t["rows"] > 0
               for name, t in report["tables"].items())  # the index is in the dump

    verified = cli.json("backup", "verify", path)
    assert verified["ok"] and verified["tables"]["messages"] == report["tables"]["messages"]

    target = _new_database(postgres_server, "restored_here")
    restored = cli.json("restore", path, "--database-url", target)
    assert restored["tables"]["messages"] == report["tables"]["messages"]
    with Workbench.open(tmp_path / "other", embedder, database_url=target) as copy:
        assert _hits(copy) == before
        assert copy.search.index_pending().chunks_embedded == 0

    again = cli("restore", path, "--database-url", target, ok=False)
    assert again.exit_code == 1 and "already holds a workbench" in again.output
    assert cli.json("restore", path, "--database-url", target, "--force")["tables"] == \
        restored["tables"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pg_backup_during_writes_matches_its_snapshot(tmp_path, embedder, postgres_url,
                                                      monkeypatch):
    home = tmp_path / "home"
    wb = ingest_into(home, {"default": ["legacy_nosso_projeto.db"]}, embedder,
                     database_url=postgres_url)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    # The import runs in this process while the CLI backs up beside it.
    importing = threading.Thread(
        target=lambda: wb.imports.ingest([FIXTURES / "chatgpt_2025_linear.json",
                                          FIXTURES / "openwebui_chat.json"], workspace="incoming"))
    importing.start()
    cli, during = Cli(home), []
    while importing.is_alive() or not during:
        report = cli.json("backup", "--to", tmp_path / "backups")
        during.append(importing.is_alive())
        # verify restores the dump into a scratch database and compares it with the digests
        # read at the dump's snapshot (retention keeps only the newest of a day: check it now).
        assert cli.json("backup", "verify", report["path"])["ok"]
    importing.join()
    wb.close()
    assert during[0]  # the first backup ran beside the import


def test_a_pg_dump_older_than_the_server_is_refused_in_one_line():
    with pytest.raises(BackupFailed) as refused:
        pg_backup.tool("pg_dump", 99)
    assert "cannot work with a PostgreSQL 99 server" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_pg_backup_without_a_server_or_target_is_refused(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    home = tmp_path / "home"
    report = Cli(home).json("backup", "--to", tmp_path / "b")
    monkeypatch.delenv("WORKBENCH_DATABASE_URL")
    missing = Cli(home)("restore", report["path"], "--home", tmp_path / "x", ok=False)
    assert missing.exit_code == 1 and "give --database-url" in missing.output
    unverified = Cli(home)("backup", "verify", report["path"], ok=False)
    assert unverified.exit_code == 1 and "set WORKBENCH_DATABASE_URL" in unverified.output
    dump = tmp_path / "b" / report["path"].rsplit("/", 1)[1] / pg_backup.DUMP
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    corrupt = Cli(home)("backup", "verify", report["path"], ok=False)
    assert corrupt.exit_code == 1 and "is corrupt" in corrupt.output
