"""BM25 over a pgvector index table's tsvector, as LanceDB ranks full-text matches.

Lucene's idf, k1 1.2, b 0.75; a document's length is its count of distinct lexemes. Document
frequencies and the mean length come from the term table that ``maintain`` refreshes (terms
written since count as rare). The query's lexemes are joined by OR; a query of stop words only
matches nothing.

Scoring reads each matching row's tsvector (about 9 µs a row here), so it reads every matching
row only while the query's terms occur in fewer than ``POSTINGS_FROM`` of them. Up to
``FULL_POSTINGS``, the candidates come from the postings table instead (a term's postings hold
BM25's term-frequency part, so their sum over the query's terms is the row's score; one index-
only range per term, in the workspace when the search has one, summed by row in NumPy): the
``2 × limit`` best are scored exactly as above, which ranks as the full scoring does (100k rows,
136 queries: the same top 200, 10 ms for 20,000 postings against 120 ms). Past that, a search
scoped to a workspace takes from each term only its ``PER_TERM`` postings of the highest weight
in that workspace; a row that is in no term's top list is missed. That is an approximation:
at 1M rows, against every posting summed, it kept 50-78 % of BM25's top 10 (100 queries).
A search without a workspace does the same in each of the table's workspaces
(up to ``MAX_WORKSPACES``; 1M rows in two workspaces, no scope: full-text p50 1.1 s → 15 ms).
With more of them, or when a scope narrower than the candidates' leaves fewer than ``limit``
rows, only the query's rarer terms (in at most a tenth of the rows; else its rarest) choose the
rows, which every term still scores (all of them while they occur in at
most ``MAX_POSTINGS`` rows).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from psycopg.errors import UndefinedTable
from psycopg.pq import TransactionStatus

MAX_POSTINGS = 20_000
MAX_WORKSPACES = 16  # a search without one reads each term's best postings in each of them
POSTINGS_FROM = 500  # reading 500 rows costs what the postings do (about 5 ms)
FULL_POSTINGS = 50_000
PER_TERM_MIN = 1_000
K1, B = 1.2, 0.75

TERMS = """
WITH terms AS (SELECT DISTINCT l AS term FROM unnest(tsvector_to_array(to_tsvector('{config}', %s))) l),
stats AS (SELECT greatest(coalesce(max(n), 1), 1) AS n, greatest(coalesce(max(avgdl), 1), 1) AS avgdl
          FROM {meta})
SELECT t.term, coalesce(w.ndoc, 0), ln(1 + (s.n - coalesce(w.ndoc, 0) + 0.5)
                                        / (coalesce(w.ndoc, 0) + 0.5))::float8, s.n, s.avgdl
FROM terms t CROSS JOIN stats s LEFT JOIN {terms} w ON w.word = t.term
"""
_WEIGHT = f"u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * length(c.tsv) / %s))"
_SCORE = f"""
SELECT {{columns}}, sum(w.idf * {_WEIGHT}) AS _score
FROM {{rows}}
CROSS JOIN LATERAL (SELECT lexeme, coalesce(cardinality(positions), 1) AS tf FROM unnest(c.tsv)) u
JOIN w ON w.term = u.lexeme
WHERE {{where}}
GROUP BY c.chunk_id
ORDER BY _score DESC, c.created_at NULLS LAST, c.position NULLS LAST, c.chunk_id LIMIT %s
"""
_WEIGHTS = "WITH w(term, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[]))"
EXACT = _WEIGHTS + _SCORE.replace("{rows}", "{table} c").replace(
    "{where}", "c.tsv @@ %s::tsquery AND {where}")
# Each term's postings of the highest weight in each of the workspaces given (an array: the
# search's own, or every workspace of the table for a search without one).
FROM_POSTINGS = _WEIGHTS + """,
candidates AS (
    SELECT p.chunk_id FROM w CROSS JOIN unnest(%s::text[]) s(name) CROSS JOIN LATERAL (
        SELECT chunk_id, impact FROM {postings}
        WHERE word = w.term AND workspace = s.name ORDER BY impact DESC LIMIT %s) p
    GROUP BY p.chunk_id ORDER BY sum(w.idf * p.impact) DESC, p.chunk_id LIMIT %s)""" + _SCORE.replace(
    "{rows}", "candidates JOIN {table} c USING (chunk_id)")

# The table's workspaces, one descent of its (workspace, created_at) index each.
WORKSPACES = """
WITH RECURSIVE s(name) AS (
    (SELECT workspace FROM {table} ORDER BY workspace LIMIT 1)
    UNION ALL
    SELECT (SELECT workspace FROM {table} WHERE workspace > s.name ORDER BY workspace LIMIT 1)
    FROM s WHERE s.name IS NOT NULL)
SELECT name FROM s WHERE name IS NOT NULL LIMIT %s
"""

# Every posting of the query's terms as two byte strings, a key per row (``ROW_KEY``) and the
# posting's weight, which the client sums by row (``best_keys``): PostgreSQL's own grouping of
# 50,000 postings into 41,000 rows took 30 ms here, building the strings 10 ms and NumPy's sums
# 1 ms. ``{workspace}`` is the workspace's condition or nothing.
ROW_KEY = "hashtextextended({alias}chunk_id, 0)"
PACKED_POSTINGS = _WEIGHTS + f"""
SELECT string_agg(int8send({ROW_KEY.format(alias="p.")}), ''::bytea),
       string_agg(float8send(w.idf * p.impact), ''::bytea)
FROM {{postings}} p JOIN w ON p.word = w.term {{workspace}}"""
# The rows of the keys ``best_keys`` chose, scored exactly (through the key's index).
FROM_KEYS = _WEIGHTS + _SCORE.replace("{rows}", "{table} c").replace(
    "{where}", ROW_KEY.format(alias="c.") + " = ANY(%s::int8[]) AND {where}")

# A posting's weight: BM25's term-frequency part, with the mean length of when it was written
# (the table's own before ``maintain`` first counts it).
WRITE_POSTINGS = f"""
INSERT INTO {{postings}} (word, workspace, impact, chunk_id)
SELECT u.lexeme, c.workspace,
       u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * length(c.tsv) / a.avgdl)), c.chunk_id
FROM {{table}} c
CROSS JOIN (SELECT greatest(coalesce((SELECT max(avgdl) FROM {{meta}}),
                                      (SELECT avg(length(tsv)) FROM {{table}}), 1), 1) AS avgdl) a
CROSS JOIN LATERAL (SELECT lexeme, coalesce(cardinality(positions), 1) AS tf FROM unnest(c.tsv)) u
WHERE {{rows}}
ON CONFLICT (chunk_id, word) DO NOTHING
"""


def best_keys(keys: bytes | None, weights: bytes | None, count: int) -> list[int]:
    """The ``count`` row keys of the highest summed weight (ties: the lower key first). A 64-bit
    hash may join two rows' sums (about one pair in 10^7 at a million rows): both are still
    scored exactly, and only the order of the candidates moves."""
    if not keys:
        return []
    keys_ = np.frombuffer(keys, ">i8").astype(np.int64)
    order = np.argsort(keys_)
    ordered = keys_[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    unique = ordered[starts]
    sums = np.add.reduceat(np.frombuffer(weights, ">f8").astype(np.float64)[order], starts)
    if count < len(sums):  # the count-th best sum, and every row that reaches it
        best = np.flatnonzero(sums >= -np.partition(-sums, count - 1)[count - 1])
    else:
        best = np.arange(len(sums))
    return unique[best[np.lexsort((unique[best], -sums[best]))]][:count].tolist()


def tsquery(terms: list[str]) -> str:
    """The OR of ``terms``, each quoted as a lexeme (no parsing, no stemming again)."""
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def rarer_terms(terms: list[tuple[str, int]], rows: int) -> list[str]:
    """The terms that choose the rows an exact scoring reads (all of them while that is cheap)."""
    if sum(df for _, df in terms) <= MAX_POSTINGS:
        return [t for t, _ in terms]
    rare = [t for t, df in terms if df <= rows / 10]
    rarest = min(terms, key=lambda t: (t[1], t[0]))[0]
    return sorted(set(rare) | {rarest})


def per_term(limit: int) -> int:
    return max(PER_TERM_MIN, 5 * limit)


def weights_params(terms: list[tuple[str, int, float]]) -> list[Any]:
    return [[t for t, _, _ in terms], [idf for _, _, idf in terms]]


def terms_of(con, query: str, config: str, meta: str, terms: str,
             table_exists: Callable[[], bool]) -> list[tuple]:
    """The query's terms (document frequency, idf, the table's rows and mean length); none
    before the table is made. Outside a transaction the query's own error says the table is
    missing (asking first cost every search a round trip); inside one that error would undo
    the caller's work, so it asks first."""
    sql = TERMS.format(config=config, meta=meta, terms=terms)
    if con.raw.info.transaction_status != TransactionStatus.IDLE:
        return con.raw.execute(sql, [query]).fetchall() if table_exists() else []
    try:
        return con.raw.execute(sql, [query]).fetchall()
    except UndefinedTable:
        return []
