"""A split message's chunks, chunked before each kept its own part, are chunked again."""

from __future__ import annotations

import duckdb

from workbench.store.migrations import MIGRATIONS, m011_hostile, migrate

W, C, M1, M2 = (f"00000000-0000-0000-0000-00000000000{n}" for n in range(1, 5))


def test_split_messages_lose_their_chunks_and_marks_to_be_chunked_again(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(con, upto=MIGRATIONS.index(m011_hostile))
    chunk = "INSERT INTO chunks VALUES (?, 'turn.v1', ?, ?, ?, [?::UUID], ?, 'x', 'x', NULL)"
    for cid, message, part in (("long0", M1, 0), ("long1", M1, 1), ("short", M2, 0)):
        con.execute(chunk, [cid, W, C, message, message, part])
        con.execute("INSERT INTO indexed_chunks VALUES ('ix', ?, now())", [cid])
    con.execute("INSERT INTO chunk_state VALUES ('turn.v1', ?, 'sig')", [C])
    con.execute("INSERT INTO chunk_state VALUES ('turn.v2', ?, 'sig')", [C])
    assert migrate(con) == ["m011_hostile"]
    assert con.execute("SELECT id, body FROM chunks").fetchall() == [("short", None)]
    assert con.execute("SELECT chunk_id FROM indexed_chunks").fetchall() == [("short",)]
    assert con.execute("SELECT chunker FROM chunk_state").fetchall() == [("turn.v2",)]
