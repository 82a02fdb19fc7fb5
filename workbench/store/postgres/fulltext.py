"""BM25 over a pgvector index table's tsvector, as LanceDB ranks full-text matches.

Lucene's idf, k1 1.2, b 0.75; a document's length is its count of distinct lexemes. Document
frequencies and the mean length come from the term table that ``maintain`` refreshes (terms
written since count as rare). The query's lexemes are joined by OR; a query of stop words only
matches nothing.

Scoring reads each matching row's tsvector (about 9 µs a row here), so it reads every matching
row only while the query's terms occur in fewer than ``POSTINGS_FROM`` of them. Past that, the
candidates come from the postings (a term's postings hold BM25's term-frequency part, so their
sum over the query's terms is the row's score), every one of them, summed by row in NumPy
(``packs``): the ``2 × limit`` best are scored exactly as above, which ranks as the full
scoring does. When a scope narrower than a workspace leaves fewer than ``limit`` of them, only
the query's rarer terms (in at most a tenth of the rows; else its rarest) choose the rows,
which every term still scores (all of them while they occur in at most ``MAX_POSTINGS`` rows).
"""

from __future__ import annotations

from typing import Any, Callable

from psycopg.errors import UndefinedTable
from psycopg.pq import TransactionStatus

MAX_POSTINGS = 20_000
POSTINGS_FROM = 500  # reading 500 rows costs what the postings do (about 5 ms)
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
# The rows ``packs.best_docs`` chose, scored exactly (through the index of their numbers).
FROM_DOCS = _WEIGHTS + _SCORE.replace("{rows}", "{docs} d JOIN {table} c USING (chunk_id)").replace(
    "{where}", "d.doc = ANY(%s::int4[]) AND {where}")

# A posting's weight: BM25's term-frequency part, with the mean length of when it was written
# (the table's own before ``maintain`` first counts it).
WRITE_POSTINGS = f"""
INSERT INTO {{postings}} (word, workspace, impact, chunk_id, doc)
SELECT u.lexeme, c.workspace,
       u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * length(c.tsv) / a.avgdl)), c.chunk_id,
       d.doc
FROM {{table}} c JOIN {{docs}} d USING (chunk_id)
CROSS JOIN (SELECT greatest(coalesce((SELECT max(avgdl) FROM {{meta}}),
                                      (SELECT avg(length(tsv)) FROM {{table}}), 1), 1) AS avgdl) a
CROSS JOIN LATERAL (SELECT lexeme, coalesce(cardinality(positions), 1) AS tf FROM unnest(c.tsv)) u
WHERE {{rows}}
ON CONFLICT (chunk_id, word) DO NOTHING
"""


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
