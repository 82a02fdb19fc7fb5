"""Before and after in one run: the headline figures of an older revision and of this tree.

The older revision is exported with ``git archive`` into a temporary folder (the repository's
worktree list and branches stay untouched, and a run killed half-way leaves nothing behind but a
temp folder) and runs from there with its own ``PYTHONPATH`` in this interpreter, so both versions
share the virtualenv, the model files and the machine's load. Each figure comes from the CLI
commands both revisions have (``eval locomo``, ``bench ingest|chat|search``) in a fresh home per
revision, read back from the JSON they print or store: a command's options and stored fields are
contracts, so the same invocation works on both sides. Steps alternate base, head, base, head so
a change in the machine's load falls on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import workbench

HEAD_ROOT = Path(workbench.__file__).resolve().parents[1]
STEPS = ("locomo", "ingest", "chat", "search")


@dataclass
class Version:
    """One side of the comparison: a source tree and the home its commands write into."""

    label: str
    revision: str
    root: Path
    home: Path


@dataclass
class Comparison:
    base: str
    head: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    load: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "rows": self.rows, "load": self.load}


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(HEAD_ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def head_revision() -> str:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else "")


def short(revision: str) -> str:
    return _git("rev-parse", "--short", revision)


def export_revision(revision: str, folder: Path) -> Path:
    """The tree of ``revision`` in ``folder`` (source files only; no git state)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HEAD_ROOT), "archive", "--format=tar", revision],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{datetime.now(timezone.utc):%H:%M:%S}Z load {one:.2f} {five:.2f} {fifteen:.2f}"


def run_cli(version: Version, args: list[str]) -> tuple[str, float]:
    """``workbench --home HOME ARGS`` from the version's own tree; stdout and wall seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(PYTHONPATH=str(version.root), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workbench", "--home", str(version.home), *args],
                          cwd=version.root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{version.label} ({version.revision}): workbench {' '.join(args)} "
                           f"exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout, seconds


def stored_rows(version: Version, name: str, before: set[Path]) -> list[dict[str, Any]]:
    """The rows of the ``name`` results file the last command stored."""
    new = sorted(set((version.home / "bench").glob(f"{name}-*.json")) - before)
    if not new:
        raise RuntimeError(f"{version.label}: no {name} results stored in {version.home}")
    return json.loads(new[-1].read_text())["rows"]


def stored(version: Version) -> set[Path]:
    return set((version.home / "bench").glob("*.json"))


def measure_locomo(version: Version, locomo: Path) -> dict[str, float]:
    stdout, _ = run_cli(version, ["eval", "locomo", str(locomo), "--k", "5,10", "--json"])
    metrics = json.loads(stdout)["metrics"]
    return {"LoCoMo dev R@5": metrics["R@5"], "LoCoMo dev R@10": metrics["R@10"]}


def measure_ingest(version: Version, fixtures: Path) -> dict[str, float]:
    before = stored(version)
    run_cli(version, ["bench", "ingest", "--fixtures", str(fixtures)])
    return {f"ingest ratio to raw embedder ({row['run']})": row["ratio_to_raw"]
            for row in stored_rows(version, "pipeline", before) if row["run"].startswith("end")}


def measure_chat(version: Version, messages: int) -> dict[str, float]:
    before = stored(version)
    run_cli(version, ["bench", "chat", "--messages", str(messages), "--pause", "6"])
    row = stored_rows(version, "chat", before)[0]
    return {"chat --pause 6 overhead p95 ms": row["overhead_p95_ms"],
            "chat --pause 6 with indexing p95 ms": row["with_indexing_p95_ms"]}


def knows_data(version: Version) -> bool:
    """Whether the version's ``bench search`` takes ``--data``: before it did, its rows were
    noisy copies ("copies"), and both sides must measure the same data."""
    return '"--data"' in (version.root / "workbench" / "cli" / "bench.py").read_text()


def measure_search(version: Version, size: int, data: str | None = None) -> dict[str, float]:
    """``data``: the ``--data`` both sides measure; None: each its default."""
    before = stored(version)
    run_cli(version, ["bench", "search", "--sizes", str(size),
                      *(["--data", data] if data and knows_data(version) else [])])
    figures = {}
    for row in stored_rows(version, "search", before):
        label = f"search {size:,} ({row['engine']})"
        figures[f"{label} p95 ms"] = row["p95_ms"]
        figures[f"{label} ANN R@10"] = row["ann_recall_at_10"]
    return figures


def plan(steps: list[str], sizes: list[int], locomo: Path, fixtures: Path,
         chat_messages: int, search_data: str | None = None,
         ) -> list[tuple[str, Callable[[Version], dict[str, float]]]]:
    """The measurements in the order they run: cheap ones first, the largest table last."""
    jobs: list[tuple[str, Callable[[Version], dict[str, float]]]] = []
    if "locomo" in steps:
        jobs.append(("eval locomo", lambda v: measure_locomo(v, locomo)))
    if "ingest" in steps:
        jobs.append(("bench ingest", lambda v: measure_ingest(v, fixtures)))
    if "chat" in steps:
        jobs.append(("bench chat", lambda v: measure_chat(v, chat_messages)))
    if "search" in steps:
        for size in sorted(sizes):
            jobs.append((f"bench search {size:,}",
                         lambda v, s=size: measure_search(v, s, search_data)))
    return jobs


def run(base: str, head: str | None, steps: list[str], sizes: list[int], locomo: Path,
        fixtures: Path, chat_messages: int, save: Callable[[Comparison], Path],
        progress: Callable[[str], None] = lambda _: None) -> Comparison:
    """Measure ``base`` and ``head`` (this tree when None; a revision is exported like the
    base, so the tree can change while a long run goes on) step by step; ``save`` is called
    after every step, so a run cut short keeps what it measured."""
    comparison = Comparison(base=short(base), head=short(head) if head else head_revision())
    with tempfile.TemporaryDirectory(prefix="workbench-compare-") as tmp:
        old = Version("base", comparison.base, export_revision(base, Path(tmp) / "base"),
                      Path(tmp) / "home-base")
        new_root = export_revision(head, Path(tmp) / "head") if head else HEAD_ROOT
        new = Version("head", comparison.head, new_root, Path(tmp) / "home-head")
        search_data = None if knows_data(old) else "copies"
        for name, measure in plan(steps, sizes, locomo, fixtures, chat_messages, search_data):
            comparison.load.append(f"{name}: start {load_average()}")
            figures: dict[str, dict[str, float]] = {}
            seconds: dict[str, float] = {}
            for version in (old, new):
                progress(f"{name}: {version.label} ({version.revision})")
                started = time.perf_counter()
                figures[version.label] = measure(version)
                seconds[version.label] = time.perf_counter() - started
                record(comparison, name, figures, seconds)
                save(comparison)  # the base's half too: a run stopped mid-step keeps it
            comparison.load.append(f"{name}: end {load_average()}")
            progress(f"{name}: stored in {save(comparison)}")
    return comparison


def record(comparison: Comparison, step: str, figures: dict[str, dict[str, float]],
           seconds: dict[str, float]) -> None:
    """The step's rows, as far as measured (a side not measured yet is None)."""
    comparison.rows = [row for row in comparison.rows if row["step"] != step]
    metrics = sorted(set().union(*(f.keys() for f in figures.values())))
    for metric in metrics:
        comparison.rows.append({"step": step, "metric": metric, **{
            f"{label}{suffix}": value for label in ("base", "head") for suffix, value in (
                ("", figures.get(label, {}).get(metric)), ("_s", seconds.get(label)))}})
