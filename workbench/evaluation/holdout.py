"""Does a retriever generalise? Recall per category on the LoCoMo dev split, leave one
conversation out, and a second set of one's own, with bootstrap confidence intervals.

Leave-one-out: for every parameter tuned (a grid of overrides), each LoCoMo conversation is
scored with the value that did best on the *other* conversations, so no number in that column
was fitted to the questions it scores. A configuration without a grid scores the same there as
on the dev split. Every figure is recall@k of distinct retrieved messages, as ``eval locomo``.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from workbench.evaluation.metrics import score
from workbench.records import Query
from workbench.text.timeparse import parse_now

KS = (5, 10)
# Per query: {"R@5": …, "R@10": …}.
PerQuery = dict[str, dict[str, float]]
Search = Callable[[Query, int, "Setting"], list[str]]


@dataclass(frozen=True)
class Setting:
    """One retriever configuration: names, plus overrides of the retriever's parameters."""

    retriever: str
    chunker: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.retriever}+{self.chunker}" + (f" ({extra})" if extra else "")


def grid(base: Setting, tune: dict[str, list[Any]]) -> list[Setting]:
    """Every combination of the tuned values on top of ``base``; just ``base`` without any."""
    if not tune:
        return [base]
    names = sorted(tune)
    return [Setting(base.retriever, base.chunker, base.overrides + tuple(zip(names, values)))
            for values in itertools.product(*(tune[n] for n in names))]


def query_now(query: Query) -> datetime | None:
    value = getattr(query, "metadata", {}).get("now")
    return parse_now(value) if value else None


def per_query(queries: list[Query], setting: Setting, search: Search) -> PerQuery:
    judged = [q for q in queries if q.relevant]
    rankings = {q.id: list(dict.fromkeys(search(q, max(KS), setting))) for q in judged}
    values, _ = score(judged, rankings, KS)
    return {qid: {f"R@{k}": v[f"R@{k}"] for k in KS} for qid, v in values.items()}


def bootstrap(values: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile interval of the mean, resampling the questions."""
    if not values:
        return 0.0, 0.0
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def summarise(queries: list[Query], values: PerQuery) -> dict[str, dict[str, Any]]:
    """Per category and overall ("all"): question count, mean recall and its 95% interval."""
    groups: dict[str, list[str]] = {"all": []}
    for q in queries:
        if q.id in values:
            groups["all"].append(q.id)
            groups.setdefault(q.category or "none", []).append(q.id)
    table: dict[str, dict[str, Any]] = {}
    for category, ids in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        row: dict[str, Any] = {"questions": len(ids)}
        for k in KS:
            sample = [values[i][f"R@{k}"] for i in ids]
            row[f"R@{k}"] = sum(sample) / len(sample) if sample else 0.0
            row[f"R@{k} ci"] = bootstrap(sample)
        table[category] = row
    return table


def paired(queries: list[Query], base: PerQuery, other: PerQuery) -> dict[str, dict[str, Any]]:
    """Per category and overall: ``other`` minus ``base`` over the questions both scored, the
    95% interval of that mean difference, and how many questions got better and worse."""
    common = [q for q in queries if q.id in base and q.id in other]
    diffs = {q.id: {m: other[q.id][m] - base[q.id][m] for m in base[q.id]} for q in common}
    table = summarise(common, diffs)
    for category, row in table.items():
        ids = [q.id for q in common if category in ("all", q.category or "none")]
        for k in KS:
            row[f"R@{k} better"] = sum(diffs[i][f"R@{k}"] > 0 for i in ids)
            row[f"R@{k} worse"] = sum(diffs[i][f"R@{k}"] < 0 for i in ids)
    return table


def per_workspace(queries: list[Query]) -> dict[str, list[Query]]:
    """The questions of each workspace (a LoCoMo conversation), when there are several."""
    spaces: dict[str, list[Query]] = {}
    for q in queries:
        spaces.setdefault(q.workspace or "", []).append(q)
    return spaces if len(spaces) > 1 else {}


def leave_one_out(queries: list[Query], scored: dict[Setting, PerQuery]
                  ) -> tuple[PerQuery, dict[str, str]]:
    """Each workspace's questions scored with the setting best on the other workspaces (by
    mean R@5, then R@10; ties to the first setting). Returns the values and each choice."""
    spaces = sorted({q.workspace or "" for q in queries})
    values: PerQuery = {}
    chosen: dict[str, str] = {}
    for space in spaces:
        held = {q.id for q in queries if (q.workspace or "") == space}
        train = [q.id for q in queries if q.id not in held]

        def fit(setting: Setting) -> tuple[float, float]:
            got = scored[setting]
            ids = [i for i in train if i in got] or list(got)
            return tuple(sum(got[i][f"R@{k}"] for i in ids) / max(len(ids), 1) for k in KS)

        best = max(scored, key=fit)  # max keeps the first of equals
        chosen[space] = best.label
        values.update({i: v for i, v in scored[best].items() if i in held})
    return values, chosen


@dataclass
class Report:
    """Rows of (configuration, split) with per-category recall and intervals."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def add(self, label: str, split: str, table: dict[str, dict[str, Any]],
            note: dict[str, Any] | None = None) -> None:
        self.rows.append({"configuration": label, "split": split, "categories": table,
                          **({"note": note} if note else {})})

    def to_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at.isoformat(), "ks": list(KS), "rows": self.rows}

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"holdout-{self.started_at:%Y%m%dT%H%M%S}.json"
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n", encoding="utf-8")
        return path


def run(settings: Iterable[Setting], tune: dict[str, list[Any]], locomo: list[Query],
        second: list[Query], search: Search,
        progress: Callable[[str], None] = lambda _: None) -> Report:
    """Score each setting on the dev split (and on each of its conversations), by
    leave-one-conversation-out over its grid, and on the second set (with the setting's own
    values: nothing is tuned on that set); each setting after the first is also compared with
    the first, question by question, on the dev split, each conversation and the second set."""
    report = Report()
    first: tuple[str, dict[str, PerQuery]] | None = None
    for base in settings:
        progress(base.label)
        dev = per_query(locomo, base, search)
        report.add(base.label, "dev", summarise(locomo, dev))
        spaces = per_workspace(locomo)
        for space, asked in spaces.items():
            report.add(base.label, f"dev {space}", summarise(asked, dev))
        candidates = grid(base, tune)
        scored = {s: (dev if s == base else per_query(locomo, s, search)) for s in candidates}
        loo, chosen = leave_one_out(locomo, scored)
        report.add(base.label, "loo", summarise(locomo, loo), {"chosen": chosen} if tune else None)
        own = {"dev": dev}
        if second:
            own["second"] = per_query(second, base, search)
            report.add(base.label, "second", summarise(second, own["second"]))
        if first is None:
            first = base.label, own
            continue
        groups = [("dev", locomo), *((f"dev {s}", q) for s, q in spaces.items())]
        groups += [("second", second)] if second else []
        for name, group in groups:
            split = name.split()[0]
            report.add(base.label, f"{name} paired", paired(group, first[1][split], own[split]),
                       {"against": first[0]})
    return report
