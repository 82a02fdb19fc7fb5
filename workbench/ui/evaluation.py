"""Evaluation page: stored retrieval runs over time, one run by category, two runs compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from workbench.api import Workbench
from workbench.records import Run, User
from workbench.ui.common import when
from workbench.ui.shape import percent

RUN_A = "eval_run_a"
RUN_B = "eval_run_b"
METRIC = "eval_metric"


def render(wb: Workbench, user: User | None = None) -> None:
    """``user``: the signed-in user, who sees runs over their workspaces' sets only."""
    st.title("Evaluation")
    runs = wb.evals.runs(limit=500) if user is None else wb.users.runs(user, wb.evals, limit=500)
    if not runs:
        st.info("No evaluation runs yet. Run `workbench eval generate --workspace NAME --n 50`, "
                "then `workbench eval run --set NAME`, or `workbench eval notebooks`.")
        return
    sets = sorted({r.set_name for r in runs})
    chosen = st.selectbox("Eval set", sets, key="eval_set")
    mine = [r for r in runs if r.set_name == chosen]
    metric = _trend(mine)
    st.divider()
    _one_run(wb, mine)
    st.divider()
    _compare(wb, mine, metric)


def _label(run: Run) -> str:
    tag = f" · {run.label}" if run.label else ""
    return (f"{when(run.started_at)} · {run.retriever} · {run.chunker}{tag} · "
            f"{run.set_name}@{run.set_version} · {run.id[:8]}")


def _trend(runs: list[Run]) -> str:
    """One line per retriever configuration: how a metric moved from run to run."""
    names = list(dict.fromkeys(m for r in runs for m in r.metrics))
    default = "R@10" if "R@10" in names else names[0]
    metric = st.selectbox("Metric", names, index=names.index(default), key=METRIC)
    frame = pd.DataFrame([
        {"started": r.started_at, "value": r.metrics.get(metric), "configuration":
         f"{r.retriever} · {r.chunker}", "run": r.id[:8], "label": r.label or "",
         "origin": r.origin}
        for r in runs if metric in r.metrics
    ])
    st.subheader(f"{metric} over time")
    if frame["started"].nunique() < 2:
        # One run is a point, not a trend: a time axis around one instant has no scale.
        st.metric(f"{metric} · {frame['configuration'].iloc[0]}",
                  percent(frame["value"].iloc[0]) + " %")
        st.caption("One run so far: the trend shows from the second run on.")
        return metric
    frame["value"] = frame["value"] * 100
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("started:T", title="run started"),
            y=alt.Y("value:Q", title=f"{metric} (%)", scale=alt.Scale(zero=False)),
            color=alt.Color("configuration:N"),
            tooltip=["run", "configuration", "label", "origin", alt.Tooltip("value:Q", format=".1f")],
        )
    )
    st.altair_chart(chart, width="stretch")
    return metric


def _one_run(wb: Workbench, runs: list[Run]) -> None:
    st.subheader("A run")
    run = st.selectbox("Run", runs, format_func=_label, key=RUN_A)
    st.caption(
        f"{run.queries} queries ({run.skipped} without judgements skipped) · "
        f"{run.seconds:.1f} s · search p50 {run.search_ms_p50 or 0:.0f} ms / "
        f"p95 {run.search_ms_p95 or 0:.0f} ms · model {run.embedding_model} · "
        f"code {run.code_version or 'unknown'} · origin {run.origin}"
    )
    st.dataframe(pd.DataFrame(_run_rows(run)).set_index("category"), width="stretch")
    st.caption("Rates in percent, as `workbench eval run` prints them.")
    _notebook(run)


def _notebook(run: Run) -> None:
    """The executed notebook that made the run, when a scheduled or notebook run did."""
    if not run.notebook:
        return
    path = Path(run.notebook)
    if not path.is_file():
        st.caption(f"Executed notebook: {path} (no longer on disk)")
        return
    st.caption(f"Executed notebook: `{path}`")
    st.download_button("Download the executed notebook", path.read_bytes(), file_name=path.name,
                       mime="application/x-ipynb+json", key=f"nb-{run.id}")


def _compare(wb: Workbench, runs: list[Run], metric: str) -> None:
    st.subheader("Compare two runs")
    if len(runs) < 2:
        st.caption("Compare needs two runs of this set.")
        return
    left, right = st.columns(2)
    a = left.selectbox("Baseline (A)", runs, index=1, format_func=_label, key="eval_cmp_a")
    b = right.selectbox("Candidate (B)", runs, index=0, format_func=_label, key=RUN_B)
    if a.id == b.id:
        st.caption("Pick two different runs.")
        return
    comparison = wb.evals.compare(a.id, b.id)
    table = pd.DataFrame([
        {"metric": name, "A": percent(v["a"]), "B": percent(v["b"]),
         "delta": f"{100 * v['delta']:+.1f}", "p": f"{v['p_value']:.3g}"}
        for name, v in comparison.metrics.items()
    ]).set_index("metric")
    st.dataframe(table.style.map(_colour, subset=["delta"]), width="stretch")
    st.caption(
        f"{comparison.queries} paired queries: {comparison.better} better, "
        f"{comparison.worse_count} worse, {comparison.ties} unchanged on {comparison.primary} "
        "(Wilcoxon signed-rank p-values)."
    )
    if comparison.worse:
        st.markdown(f"**Queries that got worse on {comparison.primary}**")
        st.dataframe(pd.DataFrame(_worse_rows(comparison.worse)), width="stretch", hide_index=True)


def _run_rows(run: Run) -> list[dict[str, Any]]:
    """The run's table as the CLI prints it: queries counted, rates as percentages."""
    names = list(run.metrics)
    rows = [{"category": "all", "queries": run.queries,
             **{n: percent(run.metrics.get(n)) for n in names}}]
    rows += [{"category": cat, "queries": int(values.get("queries", 0)),
              **{n: percent(values.get(n)) for n in names}}
             for cat, values in run.per_category.items() if cat != "all"]
    return rows


def _worse_rows(worse: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"query": w.get("text") or w["query_id"], "A": f"{w['a']:.2f}", "B": f"{w['b']:.2f}",
             "delta": f"{w['delta']:+.2f}"} for w in worse[:50]]


def _colour(value: str) -> str:
    if value.startswith("-"):
        return "color: #b3261e"
    return "color: #1b6e20" if value.startswith("+") and value.strip("+0.") else ""
