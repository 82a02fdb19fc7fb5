"""``workbench eval holdout``: does a retriever generalise? LoCoMo dev, leave one conversation
out, and a second set of one's own, per category with 95% bootstrap intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.table import Table

from workbench.cli.common import emit_json, err, fail, out, workbench
from workbench.cli.evaluation import eval_app

if TYPE_CHECKING:  # the stores load only when the command runs
    from workbench.evaluation import holdout


def _setting(value: str) -> "holdout.Setting":
    from workbench.evaluation import holdout

    retriever, _, rest = value.partition(":")
    chunker, _, extra = rest.partition(":")
    if not retriever or not chunker:
        fail(f"--config takes RETRIEVER:CHUNKER[:PARAM=V,...], not {value!r}")
    pairs = [p.partition("=") for p in extra.split(",") if p]
    if any(not name or not v for name, _, v in pairs):
        fail(f"--config takes RETRIEVER:CHUNKER[:PARAM=V,...], not {value!r}")
    return holdout.Setting(retriever, chunker, tuple((n, _number(v)) for n, _, v in pairs))


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _tune(values: list[str]) -> dict[str, list[Any]]:
    tune = {}
    for value in values:
        name, _, options = value.partition("=")
        if not name or not options:
            fail(f"--tune takes PARAM=V1,V2,..., not {value!r}")
        tune[name] = [_number(v) for v in options.split(",")]
    return tune


def _cell(values: dict[str, Any] | None) -> str:
    if values is None:
        return ""
    five, ten = values["R@5"], values["R@10"]
    lo, hi = values["R@5 ci"]
    if "R@5 better" in values:  # a paired difference: signed, with the questions that moved
        moved = f"{values['R@5 better']}↑{values['R@5 worse']}↓"
        return f"{100 * five:+.1f} ({100 * lo:+.1f}…{100 * hi:+.1f}) {moved} / {100 * ten:+.1f}"
    return f"{100 * five:.1f} ({100 * lo:.0f}–{100 * hi:.0f}) / {100 * ten:.1f}"


def _print(report: "holdout.Report") -> None:
    paired = [r for r in report.rows if r["split"].endswith(" paired")]
    against = paired[0]["note"]["against"] if paired else ""
    for title, rows in (
        ("LoCoMo dev · R@5 (95% CI) / R@10", [r for r in report.rows if r["split"] == "loo" or (
            r["split"].startswith("dev") and r not in paired)]),
        ("second set · R@5 (95% CI) / R@10", [r for r in report.rows if r["split"] == "second"]),
        *((f"{split} paired against {against} · R@5 difference (95% CI), questions better↑ "
           "worse↓ / R@10 difference", [r for r in paired if r["split"].startswith(split)])
          for split in ("dev", "second")),
    ):
        if not rows:
            continue
        categories = list(dict.fromkeys(c for r in rows for c in r["categories"]))
        table = Table(title=title)
        table.add_column("configuration")
        table.add_column("split")
        for category in categories:
            n = max(r["categories"].get(category, {}).get("questions", 0) for r in rows)
            table.add_column(f"{category} ({n})", justify="right")
        for r in rows:
            table.add_row(r["configuration"], r["split"],
                          *[_cell(r["categories"].get(c)) for c in categories])
        out.print(table)


@eval_app.command("holdout")
def eval_holdout(
    locomo: Path = typer.Argument(..., exists=True, dir_okay=False, help="LoCoMo dev JSON."),
    configs: list[str] = typer.Option(..., "--config", help="RETRIEVER:CHUNKER[:PARAM=V,...] (repeatable)."),
    tune: list[str] = typer.Option([], "--tune", help="PARAM=V1,V2 tuned leave-one-out."),
    export: Optional[Path] = typer.Option(None, "--export", exists=True, dir_okay=False,
                                          help="The second set's history (any import format)."),
    qrels: Optional[Path] = typer.Option(None, "--qrels", exists=True, dir_okay=False,
                                         help="The second set's questions (qrels JSONL)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recall per category on LoCoMo dev, leave-one-conversation-out and a second set; the
    report is printed and stored as JSON under the home's reports/ folder."""
    from workbench.evaluation import holdout
    from workbench.evaluation.sets import read_qrels

    if (export is None) != (qrels is None):
        fail("give --export and --qrels together")
    settings = [_setting(c) for c in configs]
    grid = _tune(tune)
    bench = workbench()
    locomo_set = bench.evals.import_file(locomo)
    second_queries = []
    if export is not None and qrels is not None:
        spaces = {line.workspace for line in read_qrels(qrels)}
        for space in sorted(spaces):
            bench.imports.ingest([export], workspace=space)
        second_queries = bench.evals.queries(bench.evals.import_file(qrels).ref)
    for chunker in dict.fromkeys(s.chunker for s in settings):
        bench.search.index_pending(chunker)

    def search(query, k: int, setting: holdout.Setting) -> list[str]:
        result = bench.search.query(query.text, query.workspace, k,
                                    retriever=setting.retriever, chunker=setting.chunker,
                                    now=holdout.query_now(query), **dict(setting.overrides))
        return [hit.message_id for hit in result.hits]

    report = holdout.run(settings, grid, bench.evals.queries(locomo_set.ref), second_queries,
                         search, lambda label: err.print(f"scoring {label}", highlight=False))
    saved = report.save(bench.settings.home / "reports")
    if as_json:
        emit_json(report.to_dict() | {"saved": str(saved)})
        return
    _print(report)
    err.print(f"stored {saved}", highlight=False, markup=False)

