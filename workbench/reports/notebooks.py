"""What the notebooks call: an eval set to use, runs of retrievers and chunkers, and the tables
and charts' data drawn from stored runs. Their scheduled execution lives in
``workbench.evaluation.batches``."""


from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from workbench.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from workbench.api import Workbench

log = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPOSITORY / "data" / "samples"


def open_home(home: Path | str | None = None) -> "Workbench":
    """The notebook's workbench, with the logging every entry point sets up: warnings in the
    cell's output, JSON lines in ``home/logs/`` (a scheduled batch's kernels write there too)."""
    from workbench.api import Workbench
    from workbench.config import load_settings
    from workbench.logs import configure_logging

    config = load_settings() if home is None else load_settings(home=home)
    configure_logging(config.home, slow_ms=config.slow_ms)
    log.info("notebook kernel opened the home", extra={"event": "notebook"})
    return Workbench.open(home)


def ensure_history(wb: "Workbench", samples: Path = SAMPLES_DIR) -> list:
    """Ingest the repository's sample exports when the home holds no message at all."""
    if wb.stats()["messages"]:
        return []
    files = sorted(p for p in samples.iterdir() if p.is_file()) if samples.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{wb.settings.home} holds no messages and {samples} has no "
                                "samples: import an export first (workbench ingest FILE)")
    return wb.imports.ingest(files)


def pick_eval_set(wb: "Workbench", eval_set: str = "auto", queries: int = 40, seed: int = 0):
    """The set named by ``eval_set``; "auto": the newest set, or a known-item set generated
    from the home's largest workspace (after ingesting the samples into an empty home)."""
    if eval_set != "auto":
        return wb.evals.set(eval_set)
    existing = wb.evals.sets()
    if existing:
        return existing[0]
    ensure_history(wb)
    spaces = sorted(wb.workspaces(), key=lambda w: (-w["messages"], w["name"]))
    default = wb.settings.default_workspace
    workspace = default if any(w["name"] == default and w["messages"] for w in spaces) \
        else spaces[0]["name"]
    return wb.evals.generate(workspace, queries, seed=seed)


def run_retrievers(
    wb: "Workbench",
    eval_set: str,
    retrievers: Iterable[str],
    ks: Iterable[int] = (5, 10, 25, 50),
    chunker: str | None = None,
    label: str | None = None,
    batch_id: str | None = None,
    notebook: str | None = None,
    retriever_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list:
    """One stored run per retriever (``retriever_params``: overrides per retriever name)."""
    overrides = retriever_params or {}
    unknown = set(overrides) - set(retrievers)
    if unknown:
        raise InvalidInput(f"retriever_params names retrievers not in the list: {sorted(unknown)}")
    wb.search.index_pending(chunker)
    return [
        wb.evals.run(eval_set, retriever=name, chunker=chunker, ks=tuple(ks), label=label,
                    origin="notebook", batch_id=batch_id, notebook=notebook,
                    **dict(overrides.get(name, {})))
        for name in retrievers
    ]


def compare_chunkers(
    wb: "Workbench",
    eval_set: str,
    chunkers: Iterable[str],
    retriever: str | None = None,
    ks: Iterable[int] = (5, 10, 25),
    label: str | None = None,
    batch_id: str | None = None,
    notebook: str | None = None,
) -> list:
    """One stored run per chunker, each on its own index (built here when missing)."""
    runs = []
    for name in chunkers:
        wb.search.index_pending(name)
        runs.append(wb.evals.run(eval_set, retriever=retriever, chunker=name, ks=tuple(ks),
                                label=label, origin="notebook", batch_id=batch_id,
                                notebook=notebook))
    return runs


def metrics_table(runs: Iterable) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for run in runs:
        rows.append({
            "run": run.id[:8], "retriever": run.retriever, "chunker": run.chunker,
            "set": f"{run.set_name}@{run.set_version}", "queries": run.queries,
            **{name: round(value, 4) for name, value in run.metrics.items()},
            "seconds": round(run.seconds, 1), "search p50 ms": run.search_ms_p50,
        })
    return pd.DataFrame(rows)


def _cutoff(name: str, prefix: str) -> int | None:
    head, _, tail = name.partition("@")
    return int(tail) if head == prefix and tail.isdigit() else None


def recall_curve(runs: Iterable) -> "pd.DataFrame":
    """Recall@k of each run at each of its cut-offs (long format: one row per run and k)."""
    import pandas as pd

    rows = [
        {"run": run.id[:8], "retriever": run.retriever, "chunker": run.chunker, "k": k,
         "recall": value}
        for run in runs for name, value in run.metrics.items()
        if (k := _cutoff(name, "R")) is not None
    ]
    return pd.DataFrame(rows, columns=["run", "retriever", "chunker", "k", "recall"])


def category_recall(runs: Iterable) -> "pd.DataFrame":
    """Recall@k per query category (sets without categories have one: "all")."""
    import pandas as pd

    rows = [
        {"run": run.id[:8], "retriever": run.retriever, "chunker": run.chunker,
         "category": category, "queries": values.get("queries"), "k": k, "recall": value}
        for run in runs for category, values in run.per_category.items()
        for name, value in values.items() if (k := _cutoff(name, "R")) is not None
    ]
    return pd.DataFrame(rows, columns=["run", "retriever", "chunker", "category", "queries",
                                       "k", "recall"])


def trend(wb: "Workbench", set_name: str, metric: str = "R@10",
          limit: int | None = 500) -> "pd.DataFrame":
    """``metric`` of every stored run on any version of the set ``set_name``, oldest first."""
    import pandas as pd

    rows = [
        {"started_at": run.started_at, "run": run.id[:8], "retriever": run.retriever,
         "chunker": run.chunker, "label": run.label, "origin": run.origin,
         "batch": (run.batch_id or "")[:8], "set_version": run.set_version,
         "value": run.metrics[metric]}
        for run in wb.evals.runs(set_ref=set_name, limit=limit)
        if run.set_name == set_name and metric in run.metrics
    ]
    frame = pd.DataFrame(rows, columns=["started_at", "run", "retriever", "chunker", "label",
                                        "origin", "batch", "set_version", "value"])
    return frame.sort_values("started_at", ignore_index=True)


def write_scrapbook(output_path: str | None, **payload: Any) -> Path | None:
    """Write ``payload`` as JSON beside the executed notebook (nothing when run by hand)."""
    if not output_path:
        return None
    path = Path(output_path).with_suffix(".json")
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path
