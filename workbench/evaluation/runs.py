"""Evaluation runs: an eval set searched with one retriever configuration, scored and stored.

A run records what it measured with (set version, retriever name and parameters, embedding
model, chunker, code version) next to its mean metrics, per-category metrics, timings and each
query's ranking, so two runs made months apart can be compared query by query. Searching
happens with no database connection open; the run and its per-query rows are then written in
one transaction, so a run is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

from workbench.evaluation.sets import EvalSet, SetQuery, resolve_set
from workbench.evaluation.metrics import Report, evaluate
from workbench.store import Store
from workbench.errors import Ambiguous, InvalidInput, NotFound

PRIMARY_METRIC = "R@10"
_RESULT_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("ranking", pa.list_(pa.string())), ("metrics", pa.string()),
    ("search_ms", pa.float64()),
])


@dataclass
class Run:
    """One stored run; ``metrics`` keys are ir-measures names ("R@10", "RR", "nDCG@10")."""

    id: str
    label: str | None
    set_id: str
    set_name: str
    set_version: int
    retriever: str
    params: dict[str, Any]
    embedding_model: str
    chunker: str
    code_version: str | None
    ks: list[int]
    metrics: dict[str, float]
    per_category: dict[str, dict[str, float]]
    queries: int
    skipped: int
    seconds: float
    search_ms_p50: float | None
    search_ms_p95: float | None
    origin: str
    batch_id: str | None
    notebook: str | None
    started_at: datetime

    def to_dict(self) -> dict[str, Any]:
        payload = dict(self.__dict__)
        payload["started_at"] = self.started_at.isoformat()
        payload["set_ref"] = f"{self.set_name}@{self.set_version}"
        return payload


@dataclass
class Comparison:
    """Run ``b`` against run ``a``, paired over the queries both ran.

    ``metrics[name]`` holds both means over the paired queries, ``delta`` = b - a and the
    two-sided Wilcoxon signed-rank p-value of the per-query differences (1.0 when every
    difference is zero). ``worse`` lists the queries whose ``primary`` metric dropped.
    """

    a: Run
    b: Run
    metrics: dict[str, dict[str, Any]]
    worse: list[dict[str, Any]]
    better: int
    worse_count: int
    ties: int
    queries: int
    primary: str = PRIMARY_METRIC

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(), "b": self.b.to_dict(), "primary": self.primary,
            "metrics": self.metrics, "worse": self.worse, "better": self.better,
            "worse_count": self.worse_count, "ties": self.ties, "queries": self.queries,
        }


@dataclass
class RunConfig:
    """What a run searches with; recorded with it."""

    retriever: str
    params: dict[str, Any] = field(default_factory=dict)
    embedding_model: str = ""
    chunker: str = ""


def code_version() -> str | None:
    """``git describe --always --dirty`` of the package's checkout, else the package version."""
    from workbench import __version__

    try:
        found = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return __version__
    described = found.stdout.strip() if found.returncode == 0 else ""
    return described or __version__


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def execute(
    store: Store,
    eval_set: EvalSet,
    queries: list[SetQuery],
    search: Callable[[SetQuery, int], list[str]],
    config: RunConfig,
    ks: Iterable[int] = (5, 10, 25, 50),
    label: str | None = None,
    origin: str = "api",
    batch_id: str | None = None,
    notebook: str | None = None,
    progress: Callable[[str, int, int], None] = lambda *a: None,
) -> tuple[Run, Report]:
    """Search every judged query (``search`` returns ranked message ids), score, store."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InvalidInput("k values must be positive integers")
    started_at = datetime.now(timezone.utc)
    rankings: dict[str, list[str]] = {}
    timings: dict[str, float] = {}

    def timed(query: SetQuery, k: int) -> list[str]:
        began = time.perf_counter()
        ids = list(dict.fromkeys(i for i in search(query, k) if i is not None))
        timings[query.id] = 1000 * (time.perf_counter() - began)
        rankings[query.id] = ids
        return ids

    report = evaluate(queries, timed, ks, progress)
    ms = list(timings.values())
    run = Run(
        str(uuid.uuid4()), label, eval_set.id, eval_set.name, eval_set.version, config.retriever,
        config.params, config.embedding_model, config.chunker, code_version(), ks,
        report.metrics, report.per_category, report.queries, report.skipped, report.seconds,
        _percentile(ms, 50), _percentile(ms, 95), origin, batch_id, notebook, started_at,
    )
    with store.transaction() as con:
        con.execute(
            """INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?::JSON, ?, ?, ?, ?, ?::JSON, ?::JSON,
                                             ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [run.id, label, run.set_id, run.retriever, json.dumps(run.params), run.embedding_model,
             run.chunker, run.code_version, ks, json.dumps(run.metrics),
             json.dumps(run.per_category), run.queries, run.skipped, run.seconds,
             run.search_ms_p50, run.search_ms_p95, origin, batch_id, notebook, started_at],
        )
        con.register("incoming_results", pa.Table.from_pylist([
            {"query_id": qid, "ranking": ranking, "metrics": json.dumps(report.per_query[qid]),
             "search_ms": timings[qid]}
            for qid, ranking in rankings.items()
        ], schema=_RESULT_SCHEMA))
        con.execute(
            """INSERT INTO eval_results SELECT ?::UUID, query_id, ranking::UUID[],
                   metrics::JSON, search_ms FROM incoming_results""",
            [run.id],
        )
    return run, report


_RUN_COLUMNS = """r.id::VARCHAR, r.label, r.set_id::VARCHAR, s.name, s.version, r.retriever,
    r.params::VARCHAR, r.embedding_model, r.chunker, r.code_version, r.ks, r.metrics::VARCHAR,
    r.per_category::VARCHAR, r.queries, r.skipped, r.seconds, r.search_ms_p50, r.search_ms_p95,
    r.origin, r.batch_id::VARCHAR, r.notebook, r.started_at"""
_RUN_FROM = "eval_runs r JOIN eval_sets s ON r.set_id = s.id"


def _run(row: tuple) -> Run:
    values = list(row)
    for i in (6, 11, 12):
        values[i] = json.loads(values[i]) if values[i] else {}
    values[10] = list(values[10])
    return Run(*values)


def list_runs(store: Store, set_ref: str | None = None, label: str | None = None,
              batch_id: str | None = None, limit: int | None = None) -> list[Run]:
    """Runs, newest first. A bare set name matches the runs of every version of that set;
    ``name@version`` or a set id, those of one version."""
    where, args = [], []
    with store.connect() as con:
        if set_ref is not None:
            if "@" not in set_ref and con.execute(
                "SELECT 1 FROM eval_sets WHERE name = ? LIMIT 1", [set_ref]
            ).fetchone():
                where.append("s.name = ?")
                args.append(set_ref)
            else:
                where.append("r.set_id = ?")
                args.append(resolve_set(con, set_ref)[0])
        if label is not None:
            where.append("r.label = ?")
            args.append(label)
        if batch_id is not None:
            where.append("r.batch_id::VARCHAR = ?")
            args.append(batch_id)
        sql = f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.started_at DESC, r.id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = con.execute(sql, args).fetchall()
    return [_run(r) for r in rows]


def _resolve_run(con, ref: str) -> str:
    ref = ref.strip().lower()
    rows = con.execute("SELECT id::VARCHAR FROM eval_runs WHERE id::VARCHAR LIKE ? LIMIT 2",
                       [ref + "%"]).fetchall()
    if len(ref) < 6 and len(ref) != 0 and rows:
        raise NotFound(f"run {ref!r}: give at least 6 characters of its id")
    if len(rows) != 1:
        raise Ambiguous(f"run {ref!r} is ambiguous") if rows else NotFound(f"run {ref!r} does not exist")
    return rows[0][0]


def get_run(store: Store, ref: str) -> Run:
    """A run by full id or a unique prefix of at least 6 characters."""
    with store.connect() as con:
        run_id = _resolve_run(con, ref)
        return _run(con.execute(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE r.id = ?",
                                [run_id]).fetchone())


def results(store: Store, ref: str) -> list[dict[str, Any]]:
    """A run's per-query rows, in the set's query order: text, category, relevant ids,
    ranking, metrics and search time."""
    with store.connect() as con:
        run_id = _resolve_run(con, ref)
        rows = con.execute(
            """SELECT e.query_id, q.text, q.workspace, q.category, q.relevant::VARCHAR[],
                      e.ranking::VARCHAR[], e.metrics::VARCHAR, e.search_ms
               FROM eval_results e JOIN eval_runs r ON e.run_id = r.id
               LEFT JOIN eval_queries q ON q.set_id = r.set_id AND q.query_id = e.query_id
               WHERE e.run_id = ? ORDER BY q.position, e.query_id""",
            [run_id],
        ).fetchall()
    return [
        {"query_id": r[0], "text": r[1], "workspace": r[2], "category": r[3],
         "relevant": r[4], "ranking": r[5], "metrics": json.loads(r[6]), "search_ms": r[7]}
        for r in rows
    ]


def _pairing_key(row: dict[str, Any], same_set: bool) -> str:
    # Within one set query ids pair; across sets (a new version, another set) only a query
    # with the same text, scope and judgements is the same question.
    if same_set:
        return row["query_id"]
    content = [row["text"], row["workspace"], sorted(row["relevant"] or [])]
    return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()


def _wilcoxon(a: list[float], b: list[float]) -> float:
    from scipy.stats import wilcoxon

    if all(x == y for x, y in zip(a, b)):
        return 1.0
    try:
        return float(wilcoxon(a, b).pvalue)
    except ValueError:
        return 1.0


def compare(store: Store, ref_a: str, ref_b: str) -> Comparison:
    """Paired comparison of two runs over the queries both ran."""
    a, b = get_run(store, ref_a), get_run(store, ref_b)
    same_set = a.set_id == b.set_id
    rows_a = {_pairing_key(r, same_set): r for r in results(store, a.id)}
    rows_b = {_pairing_key(r, same_set): r for r in results(store, b.id)}
    paired = [key for key in rows_a if key in rows_b]
    if not paired:
        raise InvalidInput(f"runs {a.id[:8]} and {b.id[:8]} share no queries")
    names = [m for m in a.metrics if m in b.metrics]
    metrics = {}
    for name in names:
        va = [rows_a[k]["metrics"].get(name, 0.0) for k in paired]
        vb = [rows_b[k]["metrics"].get(name, 0.0) for k in paired]
        mean_a, mean_b = sum(va) / len(va), sum(vb) / len(vb)
        metrics[name] = {"a": mean_a, "b": mean_b, "delta": mean_b - mean_a,
                         "p_value": _wilcoxon(va, vb), "test": "wilcoxon"}
    primary = PRIMARY_METRIC if PRIMARY_METRIC in names else names[0]
    worse, better, ties = [], 0, 0
    for key in paired:
        va = rows_a[key]["metrics"].get(primary, 0.0)
        vb = rows_b[key]["metrics"].get(primary, 0.0)
        if vb > va:
            better += 1
        elif vb == va:
            ties += 1
        else:
            worse.append({"query_id": rows_b[key]["query_id"], "text": rows_b[key]["text"],
                          "a": va, "b": vb, "delta": vb - va})
    worse.sort(key=lambda w: (w["delta"], w["query_id"]))
    return Comparison(a, b, metrics, worse, better, len(worse), ties, len(paired), primary)
