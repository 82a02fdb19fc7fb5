"""Scheduled execution of the notebooks, recorded as batches, and the regression gate.

The notebooks in ``notebooks/`` hold a parameters cell, calls into this package and Altair
charts. ``run_notebooks`` executes them with papermill into ``WORKBENCH_HOME/runs/<UTC time>/``,
records the batch in ``eval_batches`` and applies the regression gate: the batch's tracked run
(the first retriever of retrieval_eval) against the tracked run of the newest earlier finished
batch on the same eval set name. A tracked metric that dropped by more than its threshold
(absolute) fails the gate.

The kernels open the database themselves (and the app may be writing too), so this process
holds no database connection while a notebook runs: each bookkeeping step opens and closes one.
"""

from __future__ import annotations

from workbench.errors import InvalidInput
from workbench.process import ENVIRONMENT

import ast
import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from workbench.records import Batch, NotebookResult

if TYPE_CHECKING:
    from workbench.api import Workbench

REPOSITORY = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPOSITORY / "notebooks"
NOTEBOOKS = ("retrieval_eval", "explore_history", "chunking_lab")
TRACKED_NOTEBOOK = "retrieval_eval"
METRICS = ("R@5", "R@10", "RR", "nDCG@10")
THRESHOLD = 0.02
# Set by run_notebooks for every notebook that declares them; a params file may not.
INJECTED = ("home", "batch_id", "output_path")
RUNNING, PASSED, REGRESSED, FAILED = "running", "passed", "regressed", "failed"
FINISHED = (PASSED, REGRESSED)


# ---------------------------------------------------------------------------------------------
# Batches: records of scheduled executions


def batches(wb: "Workbench", limit: int | None = None) -> list[Batch]:
    """Recorded batches, newest first."""
    return wb.store.evals.batches.list(limit)


def get_batch(wb: "Workbench", ref: str) -> Batch:
    """A batch by id or unique id prefix."""
    return wb.store.evals.batches.get(ref)


# ---------------------------------------------------------------------------------------------
# Parameters


def declared_parameters(path: Path) -> dict[str, Any]:
    """The parameters cell of a notebook as values (defaults that are not literals stay text)."""
    import papermill

    declared = {}
    for name, spec in papermill.inspect_notebook(str(path)).items():
        try:
            declared[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            declared[name] = spec["default"]
    return declared


def plan_parameters(
    params: Mapping[str, Any] | None, notebooks: Iterable[str], source: Path = NOTEBOOKS_DIR
) -> dict[str, dict[str, Any]]:
    """Overrides per notebook from ``params``, checked against what each notebook declares.

    ``params`` maps notebook names to parameter dicts, or is one flat dict whose keys go to
    every notebook that declares them. A name no notebook declares is an error, caught before
    anything runs (a typo would otherwise be ignored by papermill for a whole night).
    """
    names = [_stem(n) for n in notebooks]
    available = {p.stem: p for p in sorted(source.glob("*.ipynb"))}
    missing = [n for n in names if n not in available]
    if missing:
        raise InvalidInput(f"no notebook {', '.join(missing)} in {source}")
    # Every notebook of the folder is checked, so that one params file serves a run of any
    # subset of them and still catches a typo in the others.
    declared = {n: declared_parameters(path) for n, path in available.items()}
    params = dict(params or {})
    keys = {_stem(k) for k in params}
    per_notebook = bool(params) and keys <= set(available) and \
        all(isinstance(v, Mapping) for v in params.values())
    if per_notebook:
        given = {_stem(k): dict(v) for k, v in params.items()}
        for name, values in given.items():
            unknown = sorted(set(values) - set(declared[name]))
            if unknown:
                raise InvalidInput(f"{name} declares no parameter {', '.join(unknown)} "
                                 f"(it has: {', '.join(declared[name])})")
            _refuse_injected(name, values)
        overrides = {n: given.get(n, {}) for n in names}
    else:
        if keys & set(available):
            raise InvalidInput("params mix notebook names and parameter names; give either "
                             "{notebook: {parameter: value}} or {parameter: value}")
        unknown = sorted(k for k in params if not any(k in d for d in declared.values()))
        if unknown:
            raise InvalidInput(f"no notebook declares {', '.join(unknown)}")
        _refuse_injected("every notebook", params)
        overrides = {n: {k: v for k, v in params.items() if k in declared[n]} for n in names}
    return {n: {**declared[n], **overrides[n]} for n in names}


def _refuse_injected(where: str, values: Mapping[str, Any]) -> None:
    fixed = sorted(set(values) & set(INJECTED))
    if fixed:
        raise InvalidInput(f"{', '.join(fixed)} of {where} is set by the batch itself")


def _stem(name: str) -> str:
    return name[: -len(".ipynb")] if name.endswith(".ipynb") else name


def parse_thresholds(specs: Iterable[str], default: float = THRESHOLD) -> tuple[float, dict]:
    """``["0.03", "R@10=0.01"]`` → (0.03, {"R@10": 0.01}): a bare number is the default."""
    per_metric = {}
    for spec in specs:
        name, sep, value = spec.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise InvalidInput(f"threshold {spec!r} is not NUMBER or METRIC=NUMBER") from None
        if number < 0:
            raise InvalidInput(f"threshold {spec!r} is negative")
        if sep:
            per_metric[name.strip()] = number
        else:
            default = number
    return default, per_metric


# ---------------------------------------------------------------------------------------------
# Execution


def run_notebooks(
    wb: "Workbench",
    params: Mapping[str, Any] | None = None,
    notebooks: Iterable[str] = NOTEBOOKS,
    threshold: float = THRESHOLD,
    thresholds: Mapping[str, float] | None = None,
    metrics: Iterable[str] = METRICS,
    source: Path = NOTEBOOKS_DIR,
    cell_timeout: int | None = 3600,
    progress: Callable[[NotebookResult], None] | None = None,
) -> Batch:
    """Execute the notebooks into a new run folder, record the batch and apply the gate.

    Thresholds are absolute drops (``thresholds`` per metric, ``threshold`` for the rest).
    A notebook that raises is kept, executed up to the error, and makes the batch failed.
    Kernels inherit this process's environment, which is set for them while the batch runs:
    call this from a command or a worker process, not from a threaded server.
    """
    names = [_stem(n) for n in notebooks]
    plan = plan_parameters(params, names, source)
    metrics = list(metrics)
    limits = {m: float((thresholds or {}).get(m, threshold)) for m in metrics}
    started = datetime.now(timezone.utc)
    directory = _new_folder(wb.settings.runs_path, started)
    batch_id = str(uuid.uuid4())
    outputs = _inject(plan, directory, batch_id, str(wb.settings.home.resolve()))
    recorded = {"notebooks": plan, "metrics": metrics, "thresholds": limits,
                "source": str(source)}
    previous = wb.store.evals.batches.start(batch_id, started, str(directory), recorded, RUNNING,
                                            FINISHED)
    results = _execute_all(wb, batch_id, names, plan, source, outputs, directory, cell_timeout,
                           progress)
    runs = wb.evals.runs(batch_id=batch_id)
    gate = {"notebooks": [r.to_dict() for r in results]}
    if TRACKED_NOTEBOOK in plan:
        gate |= _gate(wb, batch_id, started, runs, str(outputs[TRACKED_NOTEBOOK]),
                      plan[TRACKED_NOTEBOOK], metrics, limits)
    else:
        gate |= {"passed": True, "note": f"{TRACKED_NOTEBOOK} did not run: nothing to gate"}
    status = FAILED if any(r.status != "ok" for r in results) else \
        PASSED if gate["passed"] else REGRESSED
    finished = wb.store.evals.batches.finish(batch_id, status, gate)
    return Batch(batch_id, started, finished, str(directory), recorded, status, previous, gate,
                 runs)


def _inject(plan: dict[str, dict[str, Any]], directory: Path, batch_id: str,
            home: str) -> dict[str, Path]:
    """Set the parameters the batch fixes in each notebook that declares them; returns each
    notebook's output path."""
    outputs = {n: directory / f"{n}.ipynb" for n in plan}
    for name, values in plan.items():
        injected = {"home": home, "batch_id": batch_id, "output_path": str(outputs[name])}
        values.update({k: v for k, v in injected.items() if k in values})
    return outputs


def _execute_all(wb: "Workbench", batch_id: str, names: list[str], plan: dict, source: Path,
                 outputs: dict[str, Path], directory: Path, cell_timeout: int | None,
                 progress: Callable[[NotebookResult], None] | None) -> list[NotebookResult]:
    """Run the notebooks in order; an interruption records the batch as failed and re-raises."""
    results: list[NotebookResult] = []
    try:
        with _kernel_environment(wb, wb.settings.runs_path / ".jupyter"):
            for name in names:
                result = _execute(name, source / f"{name}.ipynb", outputs[name], plan[name],
                                  directory, cell_timeout)
                results.append(result)
                if progress:
                    progress(result)
    except BaseException as exc:
        wb.store.evals.batches.finish(batch_id, FAILED, {
            "passed": False, "notebooks": [r.to_dict() for r in results],
            "note": f"interrupted: {type(exc).__name__}: {exc}"})
        raise
    return results


def _new_folder(runs: Path, started: datetime) -> Path:
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1, 1000):
        folder = runs / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {runs}")


def _execute(name: str, notebook: Path, output: Path, parameters: dict, cwd: Path,
             cell_timeout: int | None) -> NotebookResult:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, kernel_name="python3",
            progress_bar=False, log_output=False, cwd=str(cwd), execution_timeout=cell_timeout,
        )
    except PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        return NotebookResult(name, str(output), "failed", time.perf_counter() - started, error)
    except Exception as exc:  # noqa: BLE001 - a dead kernel or a timeout fails this notebook only
        error = f"{type(exc).__name__}: {exc}"
        return NotebookResult(name, str(output), "failed", time.perf_counter() - started, error)
    return NotebookResult(name, str(output), "ok", time.perf_counter() - started)


@contextmanager
def _kernel_environment(wb: "Workbench", jupyter: Path) -> Iterator[None]:
    """Kernels run this interpreter, see this process's settings, and write only under ``jupyter``.

    Settings travel as WORKBENCH_* variables because a kernel reads no ``.env``; Jupyter and
    IPython get their own folders so that a cron job with an unwritable HOME still runs.
    """
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    # ERROR: the kernel's only warning is that loopback TCP is unencrypted, every night in the
    # cron log (IPC sockets would not need it, but their paths overflow in deep run folders).
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.log_level=ERROR"],
        "display_name": "Python 3 (workbench)", "language": "python",
    }), encoding="utf-8")
    changes = {
        f"WORKBENCH_{name.upper()}": str(value)
        for name, value in wb.settings.model_dump().items() if value is not None
    }
    changes["WORKBENCH_HOME"] = str(wb.settings.home.resolve())
    changes |= {
        "JUPYTER_PATH": os.pathsep.join(filter(None, [str(jupyter),
                                                      os.environ.get("JUPYTER_PATH")])),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "IPYTHONDIR": str(jupyter / "ipython"),
        "MPLCONFIGDIR": str(jupyter / "matplotlib"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # ipykernel's debugger warns on every start
    }
    # A kernel is an entry point that runs no workbench code first: it gets the variables in
    # its environment (progress bars and tokenizer chatter would fill the stderr cells).
    changes |= {name: os.environ.get(name, value) for name, value in ENVIRONMENT.items()}
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------------------------------------
# The regression gate


def _gate(wb: "Workbench", batch_id: str, started: datetime, runs: list, notebook: str,
          params: dict, metrics: list[str], limits: dict[str, float]) -> dict[str, Any]:
    retrievers = params.get("retrievers") or []
    tracked_retriever = retrievers[0] if retrievers else None
    tracked = sorted((r for r in runs if r.retriever == tracked_retriever
                      and r.notebook and Path(r.notebook) == Path(notebook)),
                     key=lambda r: r.started_at)
    if not tracked:
        return {"passed": True, "note": f"no tracked run ({tracked_retriever}) in this batch"}
    run = tracked[0]
    gate: dict[str, Any] = {
        "passed": True, "set": run.set_name, "set_ref": f"{run.set_name}@{run.set_version}",
        "tracked_run": run.id, "retriever": run.retriever, "baseline_batch": None,
        "baseline_run": None, "thresholds": limits, "regressions": [],
        "metrics": {m: {"previous": None, "now": run.metrics[m], "delta": None,
                        "p_value": None, "test": None} for m in metrics if m in run.metrics},
    }
    if missing := [m for m in metrics if m not in run.metrics]:
        gate["unmeasured"] = missing  # a typo in --metric, or a k the notebook did not ask for
    baseline = _baseline(wb, batch_id, started, run.set_name)
    if baseline is None:
        gate["note"] = f"no earlier finished batch on set {run.set_name}: nothing to compare"
        return gate
    gate["baseline_batch"], gate["baseline_run"] = baseline
    try:
        comparison = wb.evals.compare(baseline[1], run.id)
    except (LookupError, ValueError) as exc:  # the baseline run deleted, or no shared query
        gate["note"] = f"cannot compare with run {baseline[1][:8]}: {exc}"
        return gate
    for metric in list(gate["metrics"]):
        values = comparison.metrics.get(metric)
        if values is None:
            continue
        gate["metrics"][metric] = {"previous": values["a"], "now": values["b"],
                                   "delta": values["delta"], "p_value": values.get("p_value"),
                                   "test": values.get("test")}
        drop = values["a"] - values["b"]
        # A small epsilon: float noise must not turn "dropped exactly the threshold" into a trip.
        if drop > limits[metric] + 1e-9:
            gate["regressions"].append({"metric": metric, "previous": values["a"],
                                        "now": values["b"], "drop": drop,
                                        "threshold": limits[metric]})
    gate["passed"] = not gate["regressions"]
    gate["comparison"] = {
        "queries": comparison.queries, "better": comparison.better,
        "worse": comparison.worse_count, "ties": comparison.ties,
        "worse_queries": comparison.worse[:10],
    }
    return gate


def _baseline(wb: "Workbench", batch_id: str, started: datetime,
              set_name: str) -> tuple[str, str] | None:
    """(batch, tracked run) of the newest earlier finished batch that tracked ``set_name``."""
    for other, gate in wb.store.evals.batches.earlier(batch_id, started, FINISHED):
        if gate.get("tracked_run") and gate.get("set") == set_name:
            return other, gate["tracked_run"]
    return None
