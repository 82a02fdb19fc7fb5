"""Every posting of a query's terms, read as packed arrays and summed by row in NumPy.

BM25 over many rows is a sum per row of its terms' postings. PostgreSQL's own grouping of
50,000 postings into 41,000 rows took 30 ms of the server here, and a term of a 1M-row table
has up to 200,000 postings, so the heaviest-postings lists that stood in for the sum past
50,000 kept only 50-78 % of BM25's top 10. Instead, ``maintain`` packs each (term, workspace)'s
postings into two byte strings, the rows' numbers (``doc``, a dense integer each row gets in
the ``docs`` table as it is first written) and their weights: a search reads its terms' packs
(a few MB at 1M rows) and ``best_docs`` sums them with ``bincount``.

The row postings stay complete and are written with each row, as before; the packs are a copy
as of a watermark, the highest row number when they were made. A search adds the postings of
rows numbered past it (the tail: one index range per term) and of the rows rewritten or
removed since (``gone``, whose packed postings it leaves out). ``maintain`` packs again once
the tail has passed a tenth of what is packed (and ``REPACK_ROWS``), or the gone rows a
hundredth (1M rows: about 15 s).

Packing does not hold writers back for that long. It first waits for the writers in flight and
publishes the watermark it will pack to (``pending``, a moment under a lock); from then on a
writer that rewrites or removes a row numbered up to it marks the row gone. Then, in one
snapshot and with writers going on, it packs the postings up to that watermark and clears only
the gone rows its snapshot sees: those marked later stay, as their rows' packed postings are
older than their rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg.pq import TransactionStatus

# A tail past this many rows and a tenth of the packed ones asks for a new packing; gone rows
# past a hundredth of them (or a quarter of this) too: every search reads them all.
REPACK_ROWS = 2_000
REPACK_SHARE, GONE_SHARE = 0.1, 0.01

# The full-text tables beside an index table, by the names its statements use.
SUFFIXES = ("docs", "packs", "mark", "pending", "gone")

TABLES = """
CREATE TABLE IF NOT EXISTS {docs} (
    chunk_id TEXT PRIMARY KEY, doc INTEGER GENERATED ALWAYS AS IDENTITY UNIQUE);
CREATE TABLE IF NOT EXISTS {packs} (
    word TEXT NOT NULL, workspace TEXT NOT NULL, docs BYTEA NOT NULL, weights BYTEA NOT NULL,
    PRIMARY KEY (word, workspace));
CREATE TABLE IF NOT EXISTS {mark} (watermark INTEGER NOT NULL, packed BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS {pending} (watermark INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS {gone} (doc INTEGER NOT NULL);
"""

# One statement, so one snapshot: a packing that commits meanwhile is seen whole or not at all.
# Kinds: 1 a pack (weights to multiply by the term's idf), 2 the tail past the watermark,
# 3 the gone rows' current postings, 4 the gone rows (a row is marked once per rewrite, and a
# row past the watermark may be marked while a packing is on: its postings are the tail's).
READ = """
WITH w(term, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[])),
m AS (SELECT coalesce(max(watermark), 0) AS mark FROM {mark})
SELECT 1, w.idf, k.docs, k.weights FROM {packs} k JOIN w ON k.word = w.term {pack_scope}
UNION ALL
SELECT 2, 1.0, string_agg(int4send(p.doc), ''::bytea),
       string_agg(float4send((w.idf * p.impact)::float4), ''::bytea)
FROM w JOIN {postings} p ON p.word = w.term
WHERE p.doc > (SELECT mark FROM m) {post_scope}
UNION ALL
SELECT 3, 1.0, string_agg(int4send(p.doc), ''::bytea),
       string_agg(float4send((w.idf * p.impact)::float4), ''::bytea)
FROM w JOIN {postings} p ON p.word = w.term
JOIN (SELECT DISTINCT doc FROM {gone}) g ON g.doc = p.doc
WHERE p.doc <= (SELECT mark FROM m) {post_scope}
UNION ALL
SELECT 4, 0.0, string_agg(int4send(doc), ''::bytea), NULL
FROM (SELECT DISTINCT doc FROM {gone} WHERE doc <= (SELECT mark FROM m)) g
"""

# Read whole by every search: not compressed (a table's catalog change: once, as it is made).
STORAGE = """
ALTER TABLE {packs} ALTER COLUMN docs SET STORAGE EXTERNAL, ALTER COLUMN weights SET STORAGE EXTERNAL
"""

DUE = """
SELECT coalesce((SELECT packed FROM {mark}), -1),
       (SELECT count(*) FROM {docs} WHERE doc > coalesce((SELECT watermark FROM {mark}), 0)),
       (SELECT count(DISTINCT doc) FROM {gone})
"""

# The rows' numbers: given to the rows that have none, apart from the key's conflict (an insert
# that meets a present key would still draw a number, and a table written again and again
# would push them up: ``best_docs`` sums by number, up to the highest).
NUMBER = """
INSERT INTO {docs} (chunk_id) SELECT i.chunk_id FROM {table} i
WHERE {rows} AND NOT EXISTS (SELECT FROM {docs} d WHERE d.chunk_id = i.chunk_id)
ORDER BY i.chunk_id
ON CONFLICT (chunk_id) DO NOTHING
"""

# Writers in flight finish (each writes the table first), and none starts until the watermark
# to pack to is published: every row numbered up to it is then committed, and a writer
# that later rewrites one of them sees it and marks the row gone.
START = """
LOCK TABLE {table} IN SHARE MODE;
DELETE FROM {pending};
INSERT INTO {pending} SELECT coalesce(max(doc), 0) FROM {docs};
"""

# In one REPEATABLE READ snapshot, writers going on: the gone rows it clears are those whose
# rewrites it sees; rows marked since keep their mark.
PACK = """
DELETE FROM {packs};
INSERT INTO {packs}
SELECT word, workspace, string_agg(int4send(doc), ''::bytea ORDER BY doc),
       string_agg(float4send(impact::float4), ''::bytea ORDER BY doc)
FROM {postings} WHERE doc <= (SELECT watermark FROM {pending})
GROUP BY word, workspace;
DELETE FROM {gone};
DELETE FROM {mark};
INSERT INTO {mark}
SELECT p.watermark, (SELECT count(*) FROM {docs} d WHERE d.doc <= p.watermark) FROM {pending} p;
DELETE FROM {pending};
"""

# Rows about to be rewritten or removed whose postings are packed, or are being packed: searches
# leave their packed postings out. No key: a packing clears only the marks its snapshot sees,
# so a row rewritten again meanwhile must leave a new one.
GONE = """
INSERT INTO {gone} SELECT d.doc FROM {docs} d
WHERE {rows} AND d.doc <= greatest((SELECT max(watermark) FROM {mark}),
                                   (SELECT max(watermark) FROM {pending}), 0)
"""


def pack(con, table: str, names: dict[str, str]) -> None:
    """``START`` then ``PACK``, one packing of ``table`` at a time (each publishes its
    watermark). Nothing happens inside a caller's transaction, which cannot be the packing's
    snapshot: ``maintain`` packs when it is due."""
    if con.info.transaction_status != TransactionStatus.IDLE:
        return
    key = f"{table}:pack"
    con.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
    try:
        with con.transaction():
            con.execute(START.format(**names))
        with con.transaction():
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            con.execute(PACK.format(**names))
    finally:
        con.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def unkey_gone(con, gone: str) -> None:
    """A ``gone`` table made while packing locked writers out marked a row once, by key: the
    key goes (its marks stay)."""
    key = con.execute("SELECT conname FROM pg_constraint WHERE contype = 'p' "
                      "AND conrelid = to_regclass(%s)", [gone]).fetchone()
    if key:
        name = '"' + key[0].replace('"', '""') + '"'
        con.execute(f"ALTER TABLE {gone} DROP CONSTRAINT {name}")


def due(packed: int, tail: int, gone: int) -> bool:
    """Whether ``maintain`` packs again: never packed (-1), or the tail or gone rows grown."""
    if packed < 0:
        return tail > 0
    return tail > max(REPACK_ROWS, REPACK_SHARE * packed) or gone > max(
        REPACK_ROWS // 4, GONE_SHARE * packed)


def read(con, names: dict[str, str], weights: list[Any], workspace: str | None) -> list[tuple]:
    scope = workspace is not None
    sql = READ.format(**names, pack_scope="AND k.workspace = %s" if scope else "",
                      post_scope="AND p.workspace = %s" if scope else "")
    args = [*weights, *([workspace] * 3 if scope else [])]
    return con.raw.execute(sql, args, binary=True).fetchall()


def best_docs(parts: list[tuple], count: int) -> list[int]:
    """The ``count`` rows of the highest summed weight (ties: the lower number first), from
    ``read``'s parts; a gone row's packed postings are left out, its current ones kept."""
    gone = next((np.frombuffer(d, ">i4") for kind, _, d, _ in parts if kind == 4 and d), None)
    docs, weights = [], []
    for kind, idf, packed_docs, packed_weights in parts:
        if kind == 4 or not packed_docs:
            continue
        d = np.frombuffer(packed_docs, ">i4").astype(np.int64)
        w = np.frombuffer(packed_weights, ">f4").astype(np.float64) * idf
        if kind == 1 and gone is not None:
            keep = ~np.isin(d, gone)
            d, w = d[keep], w[keep]
        docs.append(d)
        weights.append(w)
    if not docs or not sum(len(d) for d in docs):
        return []
    sums = np.bincount(np.concatenate(docs), weights=np.concatenate(weights))
    best = _reaching(sums, count)
    return best[np.lexsort((best, -sums[best]))][:count].tolist()


def _reaching(sums: np.ndarray, count: int) -> np.ndarray:
    """The rows whose sum reaches the ``count``-th highest (every one while fewer are positive).
    A strided sample's high sums bound it from below, so only the rows past that bound are
    ranked (1M rows: 5 ms, where ranking every matched row took 11)."""
    if np.count_nonzero(sums) <= count:
        return np.flatnonzero(sums)
    step = max(1, len(sums) // (64 * count))
    sample = sums[::step]
    # about 2 × count rows reach the sample's (2 × count / step)-th highest sum
    reach = min(len(sample), -(-2 * count // step))
    bound = np.partition(sample, len(sample) - reach)[len(sample) - reach]
    rows = np.flatnonzero(sums >= bound) if bound > 0 else np.flatnonzero(sums)
    if len(rows) < count:  # the sample was unlucky: rank them all
        rows = np.flatnonzero(sums)
    tops = sums[rows]
    return rows[tops >= np.partition(tops, len(tops) - count)[len(tops) - count]]
