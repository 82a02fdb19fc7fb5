"""``workbench eval notebooks | eval batches`` and ``workbench schedule install | remove | list``.

A thin layer over ``notebooks.run_notebooks`` and ``schedule``. Exit codes of
``eval notebooks`` are a contract with cron and CI: 0 passed, 1 a tracked metric regressed,
2 a notebook failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from workbench.ops.encryption import job_environment, on_disk
from workbench.cli.common import emit_json, err, fail, out, settings, workbench
from workbench.cli.evaluation import eval_app

schedule_app = typer.Typer(help="Run `workbench eval notebooks` on a schedule (a crontab entry).")

EXIT_REGRESSED = 1
EXIT_FAILED = 2


def read_params(path: Path) -> dict[str, Any]:
    """A params file: JSON, or YAML (``.yaml``/``.yml``; PyYAML comes with papermill)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ImportError:
        fail(f"{path}: YAML needs PyYAML (pip install pyyaml), or write the file as JSON")
    except Exception as exc:  # noqa: BLE001 - json and yaml raise different errors; say where
        fail(f"{path}: not valid {'YAML' if path.suffix.lower() in {'.yaml', '.yml'} else 'JSON'}"
             f" ({str(exc).splitlines()[0]})")
    if data is None:
        return {}
    if not isinstance(data, dict):
        fail(f"{path}: needs a mapping of notebook names to parameters, or of parameters")
    return data


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.3f}" if signed else f"{value:.3f}"


@eval_app.command("notebooks")
def eval_notebooks(
    params: Optional[Path] = typer.Option(
        None, "--params", dir_okay=False,
        help="JSON or YAML: {notebook: {parameter: value}} or {parameter: value} for all."),
    threshold: list[str] = typer.Option(
        [], "--threshold",
        help="Largest allowed absolute drop: 0.02 (every tracked metric) or R@10=0.01; repeat."),
    metric: list[str] = typer.Option(
        [], "--metric", help="A tracked metric (default R@5, R@10, RR, nDCG@10); repeat."),
    notebook: list[str] = typer.Option(
        [], "--notebook", help="Run only this notebook of notebooks/ (default: all); repeat."),
    source: Optional[Path] = typer.Option(
        None, "--source", file_okay=False, exists=True,
        help="Folder of the notebooks (default: the repository's notebooks/)."),
    cell_timeout: int = typer.Option(3600, "--cell-timeout", min=1,
                                     help="Seconds one cell may run before the notebook fails."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch as JSON."),
) -> None:
    """Execute notebooks/ with papermill and gate on the tracked metrics.

    The executed notebooks go to WORKBENCH_HOME/runs/<UTC time>/; the batch, its runs and the
    comparison of its tracked run with the previous batch's are stored. Exit 1 when a tracked
    metric dropped more than its threshold, 2 when a notebook failed.
    """
    from workbench.evaluation.batches import (
        METRICS,
        NOTEBOOKS,
        NOTEBOOKS_DIR,
        parse_thresholds,
        run_notebooks,
    )

    overrides = read_params(params) if params else None
    default, per_metric = parse_thresholds(threshold)
    bench = workbench()

    def progress(result) -> None:
        detail = f": {result.error}" if result.error else ""
        err.print(f"{result.name}: {result.status} in {result.seconds:.1f} s{detail}",
                  markup=False, highlight=False, soft_wrap=True)

    batch = run_notebooks(bench, overrides, notebooks=notebook or NOTEBOOKS,
                          threshold=default, thresholds=per_metric,
                          metrics=metric or METRICS, source=source or NOTEBOOKS_DIR,
                          cell_timeout=cell_timeout, progress=progress)
    _report(batch, as_json)


def _report(batch, as_json: bool) -> None:
    """Print the batch, name what failed or regressed, and exit with the gate's code."""
    if as_json:
        emit_json(batch.to_dict())
    else:
        _print_batch(batch)
    for result in batch.notebooks:
        if result.status != "ok":
            err.print(f"error: notebook {result.name} failed: {result.error} (executed copy: "
                      f"{result.path})", markup=False, highlight=False, soft_wrap=True)
    for line in batch.regressions():
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if batch.status == "failed":
        raise typer.Exit(EXIT_FAILED)
    if batch.status == "regressed":
        raise typer.Exit(EXIT_REGRESSED)


def _print_batch(batch) -> None:
    gate = batch.gate
    if gate.get("metrics"):
        baseline = (gate.get("baseline_run") or "")[:8] or "none"
        table = Table(title=f"{gate['set_ref']} · {gate['retriever']} · run "
                            f"{gate['tracked_run'][:8]} vs {baseline}")
        for column in ("metric", "previous", "now", "delta", "p"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        tripped = {r["metric"] for r in gate.get("regressions", [])}
        for name, values in gate["metrics"].items():
            style = "red" if name in tripped else None
            table.add_row(name, _number(values["previous"]), _number(values["now"]),
                          _number(values["delta"], signed=True), _number(values["p_value"]),
                          style=style)
        out.print(table)
    if gate.get("unmeasured"):
        out.print(f"not measured by the tracked run: {', '.join(gate['unmeasured'])}",
                  markup=False, highlight=False)
    if gate.get("note"):
        out.print(gate["note"], markup=False, highlight=False)
    out.print(f"batch {batch.id} {batch.status} · {len(batch.runs)} runs · {batch.directory}",
              markup=False, highlight=False, soft_wrap=True)


@eval_app.command("batches")
def eval_batches(
    limit: int = typer.Option(20, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recorded `eval notebooks` batches, newest first."""
    from workbench.evaluation.batches import batches

    items = batches(workbench(), limit)
    if as_json:
        emit_json([b.to_dict() for b in items])
        return
    table = Table()
    for column in ("batch", "started", "status", "set", "R@10", "delta", "folder"):
        table.add_column(column)
    for b in items:
        r10 = b.gate.get("metrics", {}).get("R@10", {})
        table.add_row(b.id[:8], b.started_at.strftime("%Y-%m-%d %H:%M"), b.status,
                      b.gate.get("set_ref", ""), _number(r10.get("now")),
                      _number(r10.get("delta"), signed=True), Path(b.directory).name)
    out.print(table)


def _crontab_target(crontab_file: Optional[Path]) -> str:
    return str(crontab_file) if crontab_file else "your crontab"


@schedule_app.command("install")
def schedule_install(
    cron: Optional[str] = typer.Option(
        None, "--cron", help="When: five cron fields or @daily (default 0 3 * * *; backups "
        "30 2 * * *)."),
    params: Optional[Path] = typer.Option(None, "--params", exists=True, dir_okay=False,
                                          help="Params file passed to `eval notebooks`."),
    threshold: list[str] = typer.Option([], "--threshold", help="Passed to `eval notebooks`."),
    crontab_file: Optional[Path] = typer.Option(
        None, "--crontab-file", help="Write this file instead of the user's crontab."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    backup: bool = typer.Option(False, "--backup",
                                help="Schedule `workbench backup` instead of the evaluation."),
    to: Optional[Path] = typer.Option(None, "--to", file_okay=False,
                                      help="With --backup: the backup folder."),
    keep_daily: int = typer.Option(7, "--keep-daily", min=0, help="With --backup."),
    keep_weekly: int = typer.Option(4, "--keep-weekly", min=0, help="With --backup."),
) -> None:
    """Add (or replace) this home's entry: the line is shown before it is written."""
    from workbench.evaluation.batches import NOTEBOOKS, parse_thresholds, plan_parameters
    from workbench.evaluation.schedule import job_line

    if backup:
        arguments = ["--keep-daily", str(keep_daily), "--keep-weekly", str(keep_weekly)]
        if to is not None:
            arguments = ["--to", str(to.resolve()), *arguments]
        _install_backup("30 2 * * *" if cron is None else cron, arguments, crontab_file, yes)
        return
    cron = "0 3 * * *" if cron is None else cron
    parse_thresholds(threshold)
    arguments = []
    if params is not None:
        # A bad file fails now, not at three in the morning.
        plan_parameters(read_params(params), NOTEBOOKS)
        arguments += ["--params", str(params.resolve())]
    for spec in threshold:
        arguments += ["--threshold", spec]
    home = on_disk(workbench().settings.home)
    line = job_line(cron, home, Path.cwd(), arguments, env=job_environment(home))
    _write_entry(home, line, crontab_file, yes)


def _install_backup(cron: str, arguments: list[str], crontab_file: Optional[Path],
                    yes: bool) -> None:
    from workbench.evaluation.schedule import BACKUP_TAG, backup_line

    home = on_disk(settings().home)
    line = backup_line(cron, home, Path.cwd(), arguments, env=job_environment(home))
    _write_entry(home, line, crontab_file, yes, BACKUP_TAG)


def _write_entry(home: Path, line: str, crontab_file: Optional[Path], yes: bool,
                 prefix: str | None = None) -> None:
    """Show the line, ask (unless ``yes``), then set this home's entry in the crontab."""
    from workbench.evaluation.schedule import TAG, cron_log, read_crontab, with_entry, write_crontab

    out.print(line, markup=False, highlight=False, soft_wrap=True)
    if not yes:
        typer.confirm(f"Write this line to {_crontab_target(crontab_file)}?", abort=True)
    log = cron_log(home)
    try:
        text = read_crontab(crontab_file)
        log.parent.mkdir(parents=True, exist_ok=True)  # where cron appends its output
        write_crontab(with_entry(text, home, line, prefix or TAG), crontab_file)
    except OSError as exc:
        fail(str(exc))
    err.print(f"installed in {_crontab_target(crontab_file)}; output goes to {log}",
              markup=False, highlight=False)


@schedule_app.command("remove")
def schedule_remove(
    crontab_file: Optional[Path] = typer.Option(None, "--crontab-file"),
    backup: bool = typer.Option(False, "--backup", help="Remove the scheduled backup instead."),
) -> None:
    """Take this home's entry out of the crontab (nothing else is touched)."""
    from workbench.evaluation.schedule import (
        BACKUP_TAG,
        TAG,
        CrontabError,
        read_crontab,
        without_entry,
        write_crontab,
    )

    home = on_disk(settings().home)
    try:
        text, removed = without_entry(read_crontab(crontab_file), home,
                                      BACKUP_TAG if backup else TAG)
        if removed:
            write_crontab(text, crontab_file)
    except (CrontabError, OSError) as exc:
        fail(str(exc))
    if not removed:
        err.print(f"no scheduled {'backup' if backup else 'evaluation'} for {home} in "
                  f"{_crontab_target(crontab_file)}",
                  markup=False, highlight=False)
        return
    for line in removed:
        out.print(f"removed: {line}", markup=False, highlight=False, soft_wrap=True)


@schedule_app.command("list")
def schedule_list(
    crontab_file: Optional[Path] = typer.Option(None, "--crontab-file"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Scheduled evaluations in the crontab, for every home."""
    from workbench.evaluation.schedule import CrontabError, entries, read_crontab

    try:
        found = entries(read_crontab(crontab_file))
    except (CrontabError, OSError) as exc:
        fail(str(exc))
    if as_json:
        emit_json([e.to_dict() for e in found])
        return
    if not found:
        err.print(f"no scheduled evaluation in {_crontab_target(crontab_file)}")
        return
    for entry in found:
        out.print(f"{entry.home}  [{entry.schedule}] {entry.kind}", markup=False, highlight=False)
        out.print(f"  {entry.line}", markup=False, highlight=False, soft_wrap=True)
