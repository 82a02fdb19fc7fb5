"""Evaluation runs: an eval set searched with one retriever configuration, scored and stored.

A run records what it measured with (set version, retriever name and parameters, embedding
model, chunker, code version) next to its mean metrics, per-category metrics, timings and each
query's ranking, so two runs made months apart can be compared query by query. Searching
happens with no database connection open; the run and its per-query rows are then stored
together, whole or not at all.
"""

from __future__ import annotations

from workbench.errors import InvalidInput

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

from workbench.evaluation.metrics import Report, evaluate
from workbench.records import EvalSet, Run, RunResult, SetQuery
from workbench.store import Store

PRIMARY_METRIC = "R@10"


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
    store.evals.runs.add(run, [
        RunResult(qid, ranking, report.per_query[qid], timings[qid])
        for qid, ranking in rankings.items()
    ])
    return run, report


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
    a, b = store.evals.runs.get(ref_a), store.evals.runs.get(ref_b)
    same_set = a.set_id == b.set_id
    rows_a = {_pairing_key(r, same_set): r for r in store.evals.runs.results(a.id)}
    rows_b = {_pairing_key(r, same_set): r for r in store.evals.runs.results(b.id)}
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
