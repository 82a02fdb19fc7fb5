"""The PostgreSQL backend end to end: an embedded home moved with `workbench migrate`, then
searched on PostgreSQL with the vectors it brought (the run's private server, see conftest)."""

from __future__ import annotations

import json

import pytest

from conftest import Cli, ingest_into
from workbench import Workbench
from workbench.store.postgres import PostgresStore
from workbench.store.transfer import DuckDBSource, copy_table

LAYOUT = {"default": ["legacy_nosso_projeto.db", "chatgpt_2025_linear.json"]}
QUERIES = ["backup do banco todo dia", "how do I plan the trip", "cron job"]


def _vector_ranking(wb: Workbench) -> dict[str, list[str]]:
    return {q: [h.message_id for h in wb.search.query(q, workspace="default", k=5,
                                                       retriever="vector.v1").hits]
            for q in QUERIES}


def test_migrate_copies_a_home_with_its_vectors_resumes_and_verifies(tmp_path, embedder,
                                                                    postgres_url):
    home = tmp_path / "home"
    # Exact float32 search on both sides, so the rankings must agree row for row.
    with ingest_into(home, LAYOUT, embedder, search_mirror=False) as wb:
        embedded = _vector_ranking(wb)
        stats = wb.stats()
    # An earlier run that stopped after two tables: this one must not copy them again.
    store, source = PostgresStore(postgres_url), DuckDBSource(home / "workbench.duckdb")
    key = str((home / "workbench.duckdb").resolve())
    for table in ("workspaces", "conversations"):
        copy_table(store, key, table, source.columns(table), source.rows(table))
    source.close()

    report = Cli(home).json("migrate", "--to", postgres_url)
    tables = {t["name"]: t for t in report["tables"]}
    assert report["ok"] and all(t["same"] for t in tables.values())
    assert not tables["workspaces"]["copied"] and not tables["conversations"]["copied"]
    assert tables["messages"]["copied"] and tables["messages"]["target_rows"] == stats["messages"]
    [index_table] = [name for name in tables if name.startswith("index_chunks__")]
    assert tables[index_table]["source_rows"] > 0
    again = Cli(home).json("migrate", "--to", postgres_url)
    assert again["ok"] and again["rows_copied"] == 0

    with Workbench.open(home, embedder, database_url=postgres_url) as pg:
        assert pg.stats() == {**stats, "per_workspace": pg.stats()["per_workspace"]}
        assert pg.search.index_pending().chunks_embedded == 0  # vectors came along
        assert _vector_ranking(pg) == embedded
        # MMR reads the hits' vectors back from the index.
        diverse = pg.search.query("backup", workspace="default", k=3, retriever="hybrid-rrf-mmr.v2")
        assert len(diverse.hits) == 3 and diverse.hits[0].vector.shape == (embedder.dimension,)


def test_migrate_refuses_a_target_that_is_not_postgresql(tmp_path, embedder):
    home = tmp_path / "home"
    Workbench.open(home, embedder).close()
    result = Cli(home)("migrate", "--to", "sqlite:///x.db", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: sqlite:///x.db: the target must be a URL")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_bench_search_on_postgres_guards_narrow_scopes(cli: Cli, postgres_url, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    monkeypatch.setenv("WORKBENCH_ANN_THRESHOLD", "300")  # the HNSW index is built and used
    result = cli("bench", "search", "--sizes", "600", "--backend", "postgres")
    assert "pgvector" in result.stdout
    [path] = (cli.home / "bench").glob("search-*.json")
    [row] = json.loads(path.read_text())["rows"]
    assert row["engine"] == "pgvector" and row["ann"] and 0 < row["p50_ms"] <= row["p95_ms"]
    assert 0 < row["unscoped_p50_ms"] <= row["unscoped_p95_ms"]  # searches without a workspace
    assert "without a workspace: p50" in result.stdout
    assert row["ann_recall_at_10"] >= 0.95
    # 12 rows in scope: searched exactly by the guard (what pgvector alone loses shows at
    # real sizes, where the planner takes the HNSW index for such a scope: see the README).
    assert row["narrow_recall_at_10"] == 1.0
    assert row["narrow_recall_at_10_unguarded"] <= row["narrow_recall_at_10"]


def test_migrate_back_into_a_new_home_keeps_ids_and_vectors(tmp_path, embedder, postgres_url,
                                                           monkeypatch):
    home = tmp_path / "home"
    with ingest_into(home, LAYOUT, embedder, search_mirror=False) as wb:
        embedded = _vector_ranking(wb)
        stats = wb.stats()
        ids = {m.id for c in wb.store.conversations.list("default")
               for m in wb.store.messages.list(c.id)}
    assert Cli(home).json("migrate", "--to", postgres_url)["ok"]

    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    back = tmp_path / "back"
    report = Cli(tmp_path / "elsewhere").json("migrate", "--to", back)
    tables = {t["name"]: t for t in report["tables"]}
    assert report["ok"] and all(t["same"] and t["copied"] for t in tables.values())
    assert tables["messages"]["target_rows"] == stats["messages"]
    [index_table] = [name for name in tables if name.startswith("index_chunks__")]
    assert tables[index_table]["target_rows"] > 0
    again = Cli(tmp_path / "elsewhere").json("migrate", "--to", back)
    # The tables copied before are kept (an empty one is copied again: nothing to copy).
    assert again["ok"] and again["rows_copied"] == 0
    assert not any(t["copied"] for t in again["tables"] if t["target_rows"])

    monkeypatch.delenv("WORKBENCH_DATABASE_URL")
    with Workbench.open(back, embedder, search_mirror=False) as moved:
        assert moved.stats() == stats
        assert {m.id for c in moved.store.conversations.list("default")
                for m in moved.store.messages.list(c.id)} == ids
        assert moved.search.index_pending().chunks_embedded == 0  # vectors came along
        assert _vector_ranking(moved) == embedded


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a home built for real, three migrations, one of them killed
def test_bench_migrate_resumes_a_killed_migration_to_the_same_tables(cli: Cli, postgres_url,
                                                                      monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", postgres_url)
    result = cli("bench", "migrate", "--messages", "1000")
    assert "killed -9, then resumed" in result.stdout
    [path] = (cli.home / "bench").glob("migrate-*.json")
    [stored] = json.loads(path.read_text())["rows"]
    straight, resumed = stored["runs"]
    assert straight["ok"] and resumed["ok"]
    assert straight["tables_same"] == straight["tables"] == len(stored["tables"])
    # Killed once the messages were copied: the resumed run skipped what was recorded.
    assert 0 < resumed["tables_before_kill"] < resumed["tables"]
    assert resumed["rows_copied"] < straight["rows_copied"]
    tables = {t["table"]: t for t in stored["tables"]}
    assert all(t["rows"] > 0 for t in tables.values())  # every table is moved with rows in it
    assert tables["messages"]["rows"] >= 1000 and not tables["messages"]["resumed_copied_again"]
    assert all(t["same_result"] for t in tables.values())
