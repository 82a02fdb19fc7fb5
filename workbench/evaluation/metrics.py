"""Evaluation core: rankings against judged relevant ids → recall@k, MRR and nDCG@k.

Metrics come from ir-measures (trec_eval underneath). LoCoMo's retrieval score is plain
recall@k over dialog turns: the fraction of a question's evidence ``dia_id``s among the top-k
distinct retrieved turns, averaged over the questions of categories 1-4.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import ir_measures
from ir_measures import R, RR, nDCG

from workbench.records import Query

LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


@dataclass
class Report:
    """Mean metrics overall and per category, plus each query's own values."""

    metrics: dict[str, float]
    per_category: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, float]]
    queries: int
    skipped: int = 0
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "per_category": self.per_category,
            "queries": self.queries,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "config": self.config,
        }


def measures(ks: Iterable[int]) -> list:
    ks = sorted(set(ks))
    return [R @ k for k in ks] + [RR] + [nDCG @ k for k in ks if k == 10 or len(ks) == 1]


def score(
    queries: list[Query], rankings: dict[str, list[str]], ks: Iterable[int]
) -> tuple[dict[str, dict[str, float]], list]:
    """Per-query metric values; a ranking's order is kept (scores strictly decreasing)."""
    chosen = measures(ks)
    qrels = {q.id: {doc: 1 for doc in q.relevant} for q in queries}
    run = {
        qid: {doc: float(len(docs) - rank) for rank, doc in enumerate(docs)}
        for qid, docs in rankings.items()
    }
    per_query: dict[str, dict[str, float]] = {q.id: {str(m): 0.0 for m in chosen} for q in queries}
    for metric in ir_measures.iter_calc(chosen, qrels, run):
        per_query[metric.query_id][str(metric.measure)] = metric.value
    return per_query, chosen


def evaluate(
    queries: list[Query],
    search: Callable[[Query, int], list[str]],
    ks: Iterable[int],
    progress: Callable[[str, int, int], None] = lambda *a: None,
) -> Report:
    """Run ``search`` for every query (ids of distinct ranked items) and score the rankings."""
    ks = sorted(set(ks))
    started = time.perf_counter()
    judged = [q for q in queries if q.relevant]
    rankings: dict[str, list[str]] = {}
    for done, query in enumerate(judged, start=1):
        rankings[query.id] = _distinct(search(query, max(ks)))
        progress("search", done, len(judged))
    per_query, chosen = score(judged, rankings, ks)
    names = [str(m) for m in chosen]
    overall = {n: _mean(v[n] for v in per_query.values()) for n in names}
    groups: dict[str, list[str]] = defaultdict(list)
    for query in judged:
        groups[query.category or "all"].append(query.id)
    per_category = {
        cat: {n: _mean(per_query[q][n] for q in ids) for n in names} | {"queries": len(ids)}
        for cat, ids in sorted(groups.items())
    }
    return Report(overall, per_category, per_query, len(judged), len(queries) - len(judged),
                  time.perf_counter() - started)


def _distinct(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in ids if i is not None))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


_DIA_ID = re.compile(r"D\d+:\d+")


def locomo_queries(path: Path | str, categories: Iterable[int] = (1, 2, 3, 4)) -> list[Query]:
    """The questions of a LoCoMo file, each scoped to its own sample's workspace."""
    wanted = set(categories)
    queries = []
    for sample in json.loads(Path(path).read_text(encoding="utf-8")):
        for number, qa in enumerate(sample.get("qa", [])):
            if qa.get("category") not in wanted:
                continue
            # A few evidence entries are "D8:6; D9:17" or carry stray spaces.
            evidence = {m for e in qa.get("evidence", []) for m in _DIA_ID.findall(str(e))}
            queries.append(
                Query(
                    id=f"{sample['sample_id']}#{number}",
                    text=str(qa["question"]),
                    relevant=evidence,
                    workspace=sample["sample_id"],
                    category=LOCOMO_CATEGORIES.get(qa["category"], str(qa["category"])),
                )
            )
    return queries
