"""``workbench eval``: eval sets (import, generate, list), runs, comparisons, LoCoMo.

A thin layer over the evaluation methods of ``Workbench``. Commands, options and JSON fields
are a contract with scripts outside this repository: add, never rename.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from workbench.cli.common import progress_printer, emit_json, err, fail, out, workbench

eval_app = typer.Typer(help="Measure retrieval quality: eval sets, runs, comparisons.")


def _ks(value: str) -> list[int]:
    try:
        ks = sorted({int(x) for x in value.split(",") if x.strip()})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        fail(f"--k must be positive integers separated by commas, not {value!r}")
    return ks


def _describe(run) -> str:
    params = ", ".join(f"{k}={v}" for k, v in run.params.items())
    return f"{run.id[:8]} ({run.retriever}{' ' + params if params else ''})"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@eval_app.command("locomo")
def eval_locomo(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="LoCoMo JSON file."),
    retriever: Optional[str] = typer.Option(None, "--retriever"),
    chunker: Optional[str] = typer.Option(None, "--chunker"),
    k: str = typer.Option("5,10,25,50", "--k", help="Cut-offs, comma separated."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recall@k of dialog turns for LoCoMo questions (categories 1-4), as the paper computes it."""
    ks = _ks(k)
    report = workbench().evals.locomo(path, retriever, chunker, ks, progress_printer(),
                                     origin="cli")
    if as_json:
        emit_json(report.to_dict())
        return
    names = [f"R@{x}" for x in ks]
    table = Table(title=f"LoCoMo retrieval · {report.config['retriever']} · {report.config['chunker']}")
    table.add_column("category")
    table.add_column("questions", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for cat, values in report.per_category.items():
        table.add_row(cat, str(values["queries"]), *[f"{100 * values[n]:.1f}" for n in names])
    table.add_row("[b]all[/b]", str(report.queries), *[f"{100 * report.metrics[n]:.1f}" for n in names])
    out.print(table)


@eval_app.command("run")
def eval_run(
    set_ref: str = typer.Option(..., "--set", help="Eval set: NAME (latest version), NAME@V or id."),
    retriever: Optional[str] = typer.Option(None, "--retriever", help="Versioned retriever name."),
    chunker: Optional[str] = typer.Option(None, "--chunker", help="Versioned chunker name."),
    k: str = typer.Option("5,10,25,50", "--k", help="Cut-offs, comma separated."),
    label: Optional[str] = typer.Option(None, "--label", help="A label to find the run by."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run an eval set with a retriever configuration, store the run and print its metrics."""
    ks = _ks(k)
    run = workbench().evals.run(set_ref, retriever, chunker, ks, label, origin="cli",
                               progress=progress_printer())
    if as_json:
        emit_json(run.to_dict())
        return
    names = list(run.metrics)
    table = Table(title=f"{run.set_name}@{run.set_version} · {run.retriever} · {run.chunker}")
    table.add_column("category")
    table.add_column("queries", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    if len(run.per_category) > 1:
        for cat, values in run.per_category.items():
            table.add_row(cat, str(int(values["queries"])), *[_pct(values.get(n)) for n in names])
    table.add_row("[b]all[/b]", str(run.queries), *[_pct(run.metrics[n]) for n in names])
    out.print(table)
    err.print(f"run {run.id} · {run.seconds:.1f} s · search p50 {_ms(run.search_ms_p50)} ms, "
              f"p95 {_ms(run.search_ms_p95)} ms · {run.skipped} skipped (no relevant ids)",
              highlight=False)


@eval_app.command("sets")
def eval_sets(as_json: bool = typer.Option(False, "--json")) -> None:
    """Stored eval sets, every version, newest first."""
    items = workbench().evals.sets()
    if as_json:
        emit_json([s.to_dict() for s in items])
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # Narrow terminals fold the names; numbers and dates stay whole.
    widths = {"set": 8, "kind": 10, "workspace": 9, "queries": 7, "seed": 4, "created": 16}
    for column, width in widths.items():
        table.add_column(column, justify="right" if column in {"queries", "seed"} else "left",
                         no_wrap=column not in {"set", "workspace"}, min_width=width,
                         overflow="fold")
    for s in items:
        table.add_row(s.ref, s.kind, s.workspace or "(several)", str(s.queries),
                      "" if s.seed is None else str(s.seed), s.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


@eval_app.command("runs")
def eval_runs(
    set_ref: Optional[str] = typer.Option(None, "--set", help="Only runs of this set (NAME: all versions)."),
    label: Optional[str] = typer.Option(None, "--label"),
    limit: Optional[int] = typer.Option(None, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stored runs, newest first."""
    items = workbench().evals.runs(set_ref, label, limit=limit)
    if as_json:
        emit_json([r.to_dict() for r in items])
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # Narrow terminals fold the names; ids, numbers and dates stay whole.
    widths = {"run": 8, "started": 11, "set": 8, "retriever": 13, "label": 5, "R@10": 5, "RR": 5}
    for column, width in widths.items():
        table.add_column(column, justify="right" if column[0].isupper() else "left",
                         no_wrap=column not in {"set", "label"}, min_width=width, overflow="fold")
    for r in items:
        table.add_row(r.id[:8], r.started_at.strftime("%m-%d %H:%M"),
                      f"{r.set_name}@{r.set_version}", r.retriever, r.label or "",
                      _pct(r.metrics.get("R@10")), _pct(r.metrics.get("RR")))
    out.print(table)


@eval_app.command("compare")
def eval_compare(
    run_a: str = typer.Argument(..., help="The baseline run (id or prefix)."),
    run_b: str = typer.Argument(..., help="The run compared with it."),
    as_json: bool = typer.Option(False, "--json"),
    show: int = typer.Option(10, "--show", help="How many worse queries to print."),
) -> None:
    """Per-metric deltas (b - a) with Wilcoxon p-values, and the queries that got worse."""
    comparison = workbench().evals.compare(run_a, run_b)
    if as_json:
        emit_json(comparison.to_dict())
        return
    a, b = comparison.a, comparison.b
    table = Table(title=f"a {_describe(a)} → b {_describe(b)} · {comparison.queries} paired queries")
    for column in ("metric", "a", "b", "delta", "p"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, m in comparison.metrics.items():
        colour = "green" if m["delta"] > 0 else "red" if m["delta"] < 0 else "default"
        table.add_row(name, _pct(m["a"]), _pct(m["b"]),
                      f"[{colour}]{100 * m['delta']:+.1f}[/{colour}]", f"{m['p_value']:.3g}")
    out.print(table)
    out.print(f"{comparison.primary}: {comparison.better} better, {comparison.worse_count} worse, "
              f"{comparison.ties} unchanged", highlight=False)
    for w in comparison.worse[:show]:
        out.print(f"  {w['delta']:+.2f}  {w['query_id']}  {w['text'][:100]}", markup=False,
                  highlight=False)


@eval_app.command("generate")
def eval_generate(
    workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace whose history to use."),
    n: int = typer.Option(..., "--n", help="How many queries."),
    seed: int = typer.Option(0, "--seed", help="Same seed and store content, same queries."),
    name: Optional[str] = typer.Option(None, "--name", help="Default: WORKSPACE-METHOD."),
    method: str = typer.Option("known-item", "--method", help="known-item (no model) or llm."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make an eval set from your own history (a new version when the queries change)."""
    if n < 1:
        fail("--n must be at least 1")
    item = workbench().evals.generate(workspace, n, seed, name, method)
    _print_set(item, as_json)


@eval_app.command("import")
def eval_import(
    path: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="Qrels JSONL ({query, relevant, workspace}) or LoCoMo JSON."),
    name: Optional[str] = typer.Option(None, "--name", help="Default: the file's name."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w",
                                            help="For qrels lines without a workspace."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Store a qrels or LoCoMo file as an eval set; relevant ids become message ids."""
    item = workbench().evals.import_file(path, name, workspace, progress_printer())
    _print_set(item, as_json)


def _print_set(item, as_json: bool) -> None:
    if as_json:
        emit_json(item.to_dict())
        return
    out.print(f"{item.ref}  {item.kind} · {item.queries} queries · "
              f"{item.workspace or 'several workspaces'} · id {item.id}", markup=False,
              highlight=False)


@eval_app.command("answers")
def eval_answers(
    answer_set: Optional[Path] = typer.Option(
        None, "--set", help="Answer set NAME.vN.jsonl (default: the bundled set over the fixture exports)."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    k: int = typer.Option(6, "--k", help="Memories retrieved per question."),
    mode: list[str] = typer.Option(["model", "grounded", "extractive"], "--mode",
                                   help="model, grounded, extractive (repeat to choose)."),
    label: Optional[str] = typer.Option(None, "--label", help="A label to find the runs by."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Only the set's first N questions (a slow model)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Answer every question of an answer set, score each mode and store one run per mode:
    fact contained, citation precision/recall, unsupported-sentence rate, TTFT, total time."""
    from workbench.evaluation.answers import MODES

    unknown = sorted(set(mode) - set(MODES))
    if unknown:
        fail(f"unknown mode {unknown[0]!r} (use {', '.join(MODES)})")
    runs = workbench().evals.answers(answer_set, workspace, k, label, mode,
                                     progress=progress_printer(), limit=limit)
    if as_json:
        emit_json([{**r, "started_at": None} for r in runs])
        return
    first = runs[0]
    table = Table(title=f"{first['set_name']}.v{first['set_version']} · {first['workspace']} · "
                        f"k={first['k']} · {first['questions']} questions", box=box.SIMPLE)
    for name in ("model", "mode", "fact", "cit. precision", "cit. recall", "unsupported",
                 "TTFT p50 ms", "total p50 ms", "tokens/s"):
        table.add_column(name, justify="left" if name in ("model", "mode") else "right")
    for run in runs:
        m = run["metrics"]
        table.add_row(run["model"], run["mode"], _pct(m["fact"]), _pct(m["citation_precision"]),
                      _pct(m["citation_recall"]), _pct(m["unsupported_rate"]),
                      _ms(m["ttft_ms_p50"]), _ms(m["total_ms_p50"]),
                      f"{m['tokens_per_s']:.0f}" if m["ttft_ms_p50"] is not None else "-")
    out.print(table)
    err.print(" · ".join(f"{r['mode']} run {r['id']}" for r in runs), highlight=False)


@eval_app.command("locomo-answers")
def eval_locomo_answers(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="LoCoMo JSON file."),
    output: Path = typer.Argument(..., dir_okay=False, help="The answer set to write, NAME.vN.jsonl."),
) -> None:
    """Write an answer set from a LoCoMo file's QA (short answers found in their evidence turns;
    each question in its sample's workspace): run it with ``eval answers --set``."""
    import json

    from workbench.evaluation.answers import locomo_answer_lines, read_answer_set

    lines = locomo_answer_lines(path)
    output.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                      encoding="utf-8")
    answer_set = read_answer_set(output)
    err.print(f"{output}: {len(answer_set.questions)} questions", highlight=False)
