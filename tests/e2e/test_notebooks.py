"""The evaluation notebooks and their scheduled execution (`workbench eval notebooks`).

Real papermill, real kernels, a small home (two fixture exports, ~60 messages), so that a
batch takes seconds: the tests check that nbval fails on a broken notebook, that batches in a
row are recorded and compared, that a worse configuration trips the gate, and that a batch and
the app can write at the same time (the notebooks as committed: tests/unit)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from conftest import APP, FIXTURES, run_workbench
from conftest import NOTEBOOK_PARAMETERS as EXPECTED
from conftest import read_notebook as _notebook
from workbench import Workbench
from workbench.evaluation.batches import batches, get_batch

SMALL = ["legacy_nosso_projeto.db", "chatgpt_branches.json"]
SLICE_SESSIONS = 4  # of LoCoMo's first dev sample: 76 turns, 35 questions of categories 1-4
# Small but complete: the LoCoMo slice, two chunkers, a 50-message sample for spaCy.
FAST = {"eval_set": "locomo-slice", "chunkers": ["turn.v1", "turn-context.v1"], "sample": 50}
# Lexical search alone: on LoCoMo questions it finds far fewer evidence turns than the default
# retriever (R@10 0.63 against 0.89 for hybrid-rrf.v2 on this slice), a drop no threshold of
# 0.02 can miss.
WORSE = {"retrieval_eval": {"eval_set": "locomo-slice", "retrievers": ["bm25.v1"]}}
# Two batches in a row, each allowed up to 540 s on a loaded machine.
pytestmark = pytest.mark.timeout(1200)
REGRESSION = re.compile(
    r"regression: (?P<metric>\S+) dropped (?P<drop>\d+\.\d{3}) "
    r"\((?P<previous>\d+\.\d{3}) → (?P<now>\d+\.\d{3})\) on set (?P<set>\S+)")


def _jupyter_env(root: Path) -> dict[str, str]:
    return {**os.environ, "IPYTHONDIR": str(root / "ipython"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTER_DATA_DIR": str(root / "data"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def _broken_copy(folder: Path, name: str = "retrieval_eval") -> Path:
    """``name`` with a failing cell right after its parameters (so it fails in seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    book = _notebook(name)
    at = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    broken = nbformat.v4.new_code_cell('raise RuntimeError("deliberately broken notebook")')
    broken.id = "broken"
    book.cells.insert(at + 1, broken)
    path = folder / f"{name}.ipynb"
    nbformat.write(book, path)
    return path


def test_a_broken_notebook_fails_nbval(tmp_path):
    broken = _broken_copy(tmp_path / "notebooks")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--rootdir", str(tmp_path), str(broken)],
        cwd=tmp_path, env=_jupyter_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "deliberately broken notebook" in result.stdout
    assert re.search(r"\b1 failed\b", result.stdout), result.stdout[-2000:]


# --- batches ---------------------------------------------------------------------------------


def _locomo_slice(path: Path) -> Path:
    """The first sessions of LoCoMo's first dev sample and the questions they answer."""
    sample = json.loads((FIXTURES / "locomo_dev.json").read_text())[0]

    def session(key: str) -> int:
        return int(re.match(r"session_(\d+)", key)[1]) if key.startswith("session_") else 0

    conversation = {k: v for k, v in sample["conversation"].items()
                    if session(k) <= SLICE_SESSIONS}
    qa = [q for q in sample["qa"] if q.get("category") in (1, 2, 3, 4) and q.get("evidence")
          and all(int(d) <= SLICE_SESSIONS for d in re.findall(r"D(\d+):", str(q["evidence"])))]
    path.write_text(json.dumps([{"sample_id": sample["sample_id"],
                                 "conversation": conversation, "qa": qa}]))
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """Two small exports in ``default`` and a LoCoMo slice as the eval set ``locomo-slice``."""
    root = tmp_path_factory.mktemp("notebooks")
    wb = Workbench.open(root / "home")
    results = wb.imports.ingest([FIXTURES / name for name in SMALL])
    assert [r.status for r in results] == ["done", "done"]
    assert wb.evals.import_file(_locomo_slice(root / "locomo_slice.json"), "locomo-slice").queries == 35
    wb.search.index_pending()
    return root / "home"


def _params(tmp: Path, name: str, payload: dict) -> Path:
    path = tmp / name
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def _eval_notebooks(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_workbench(home, "eval", "notebooks", *args)


def _ensure_baseline(home: Path, tmp: Path) -> None:
    """A finished batch to compare with (when this test runs on its own)."""
    wb = Workbench.open(home)
    if not any(b.status == "passed" and b.gate.get("tracked_run") for b in batches(wb)):
        done = _eval_notebooks(home, "--params", _params(tmp, "fast.json", FAST),
                               "--notebook", "retrieval_eval")
        assert done.returncode == 0, done.stderr


def test_two_batches_in_a_row_record_runs_and_a_comparison(home, tmp_path):
    fast = _params(tmp_path, "fast.json", FAST)
    first = _eval_notebooks(home, "--params", fast, "--json")
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert one["status"] == "passed" and one["previous_id"] is None
    assert [n["status"] for n in one["gate"]["notebooks"]] == ["ok", "ok", "ok"]
    assert "nothing to compare" in one["gate"]["note"]
    folder = Path(one["directory"])
    assert folder.parent == home / "runs" and re.fullmatch(r"\d{8}T\d{6}Z", folder.name)
    for name in EXPECTED:
        executed = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        injected = [c for c in executed.cells
                    if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f'home = "{home}"' in injected[0].source
        if "batch_id" in EXPECTED[name]:
            assert f'batch_id = "{one["id"]}"' in injected[0].source
        assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    # Each kernel set up the one logging of every entry point: JSON lines in the home's log.
    records = [json.loads(line) for line in
               (home / "logs" / "workbench.log").read_text(encoding="utf-8").splitlines()]
    kernels = {r["pid"] for r in records if r.get("event") == "notebook"}
    assert len(kernels) >= 3
    scrapbook = json.loads((folder / "retrieval_eval.json").read_text())
    assert scrapbook["tracked_run"] == one["gate"]["tracked_run"]
    # Three retrievers in retrieval_eval, two chunkers in chunking_lab.
    assert len(one["runs"]) == 5 and {r["origin"] for r in one["runs"]} == {"notebook"}
    assert {r["batch_id"] for r in one["runs"]} == {one["id"]}

    second = _eval_notebooks(home, "--params", fast, "--notebook", "retrieval_eval")
    assert second.returncode == 0, second.stderr
    assert "retrieval_eval: ok" in second.stderr
    for column in ("metric", "previous", "now", "delta", "p"):
        assert column in second.stdout
    wb = Workbench.open(home)
    latest, earlier = batches(wb)[:2]
    assert earlier.id == one["id"] and latest.previous_id == earlier.id
    gate = latest.gate
    assert gate["passed"] and gate["baseline_batch"] == earlier.id
    assert gate["baseline_run"] == one["gate"]["tracked_run"]
    assert gate["tracked_run"] != gate["baseline_run"]
    # Same set, same configuration, same code: the comparison finds no change at all.
    for name in ("R@5", "R@10", "RR", "nDCG@10"):
        values = gate["metrics"][name]
        assert values["previous"] == pytest.approx(values["now"]) and values["p_value"] == 1.0
    assert gate["comparison"]["queries"] == 35 and gate["comparison"]["worse"] == 0
    runs = wb.evals.runs(batch_id=latest.id)
    assert [r.retriever for r in runs] and {r.notebook for r in runs} == {
        str(Path(latest.directory) / "retrieval_eval.ipynb")}
    assert len(wb.evals.runs(batch_id=earlier.id)) == 5


def test_a_worse_configuration_trips_the_gate(home, tmp_path):
    _ensure_baseline(home, tmp_path)
    result = _eval_notebooks(home, "--params", _params(tmp_path, "worse.json", WORSE),
                             "--notebook", "retrieval_eval")
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [m for m in map(REGRESSION.search, result.stderr.splitlines()) if m]
    assert lines, result.stderr
    tripped = {m["metric"]: m for m in lines}
    assert "R@10" in tripped
    r10 = tripped["R@10"]
    assert float(r10["drop"]) > 0.02
    assert float(r10["drop"]) == pytest.approx(float(r10["previous"]) - float(r10["now"]),
                                               abs=0.0015)
    assert r10["set"] == "locomo-slice"
    batch = batches(Workbench.open(home))[0]
    assert batch.status == "regressed" and not batch.gate["passed"]
    assert batch.gate["retriever"] == "bm25.v1"
    assert {r["metric"] for r in batch.gate["regressions"]} == set(tripped)
    # A threshold above the drop lets the same configuration pass.
    lenient = _eval_notebooks(home, "--params", _params(tmp_path, "worse.json", WORSE),
                              "--notebook", "retrieval_eval", "--threshold", "1.0")
    assert lenient.returncode == 0, lenient.stderr
    assert "regression:" not in lenient.stderr


def test_a_failing_notebook_fails_the_batch_and_is_kept(home, tmp_path):
    _broken_copy(tmp_path / "notebooks")
    result = _eval_notebooks(home, "--source", tmp_path / "notebooks", "--notebook",
                             "retrieval_eval")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "deliberately broken notebook" in result.stderr
    batch = batches(Workbench.open(home))[0]
    assert batch.status == "failed" and batch.finished_at is not None
    [outcome] = batch.notebooks
    assert outcome.status == "failed" and "RuntimeError" in outcome.error
    executed = nbformat.read(outcome.path, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and errors[0]["evalue"] == "deliberately broken notebook"
    assert get_batch(Workbench.open(home), batch.id[:8]).id == batch.id


def test_bad_params_are_refused_before_anything_runs(home, tmp_path):
    before = len(batches(Workbench.open(home)))
    for payload, message in [
        ({"top_k": 5}, "no notebook declares top_k"),
        ({"retrieval_eval": {"retriver": "x"}}, "retrieval_eval declares no parameter retriver"),
        ({"retrieval_eval": {"home": "/elsewhere"}}, "home of retrieval_eval is set by the batch"),
    ]:
        result = _eval_notebooks(home, "--params", _params(tmp_path, "bad.json", payload))
        assert result.returncode == 1 and message in result.stderr, result.stderr
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text("retrieval_eval: [not, a, mapping\n")
    result = _eval_notebooks(home, "--params", yaml_file)
    assert result.returncode == 1 and "not valid YAML" in result.stderr
    assert len(batches(Workbench.open(home))) == before


# --- a scheduled run while the app writes ----------------------------------------------------


def test_scheduled_run_and_app_write_at_the_same_time(home, tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by make setup")
    from streamlit.testing.v1 import AppTest

    from workbench.chat.llm import LLMSource

    wb = Workbench.open(home)
    source = LLMSource(wb.settings.model_copy(update={"llm_base_url": None}), home)
    client = source.client()
    try:
        monkeypatch.setenv("WORKBENCH_HOME", str(home))
        monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", client.endpoint)
        monkeypatch.setenv("WORKBENCH_LLM_MODEL", client.model)
        at = AppTest.from_file(str(APP), default_timeout=240).run()
        assert not at.exception, at.exception
        env = {**os.environ, "WORKBENCH_HOME": str(home)}
        params = _params(tmp_path, "fast.json", FAST)
        batch = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "eval", "notebooks", "--params", str(params),
             "--notebook", "retrieval_eval", "--notebook", "explore_history", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        asked, renamed = [], {}
        during = 0
        started = time.monotonic()
        # Keep writing until the batch ends (at least three chat turns): each turn stores the
        # question, the answer and an interaction, and indexes the conversation.
        while batch.poll() is None or len(asked) < 3:
            assert time.monotonic() - started < 540, "the batch did not finish"
            during += batch.poll() is None
            question = f"Turn {len(asked)}: how did we set up the daily backup?"
            at.chat_input[0].set_value(question).run()
            assert not at.exception, at.exception
            assert not [e.value for e in at.error], [e.value for e in at.error]
            asked.append(question)
            extra = wb.conversations.create("default", f"side note {len(asked)}")
            wb.conversations.add_message(extra.id, "user",
                                         f"a note written while the batch ran ({len(asked)})")
            renamed[extra.id] = f"renamed note {len(asked)}"
            wb.conversations.rename(extra.id, renamed[extra.id])
        stdout, stderr = batch.communicate(timeout=60)
    finally:
        source.close()
        wb.close()
    for text in (stderr, stdout):
        assert "locked" not in text.lower() and "StoreBusy" not in text, text[-2000:]
    assert batch.returncode == 0, stderr[-3000:]
    recorded = json.loads(stdout)
    assert recorded["status"] == "passed" and len(recorded["runs"]) == 3
    # The two really overlapped: turns began while the batch ran, and its runs were stored
    # between the app's first and last writes.
    assert during >= 2, during
    assert get_batch(wb, recorded["id"]).status == "passed"
    assert len(wb.evals.runs(batch_id=recorded["id"])) == 3
    # No lost write on the app's side: every question answered and stored, every note renamed.
    chat_id = at.session_state["chat_conversation"]
    messages = wb.conversations.messages(chat_id)
    assert [m.content for m in messages if m.role == "user"] == asked
    assert [m.role for m in messages] == ["user", "assistant"] * len(asked)
    assert len(wb.chat.interactions(chat_id)) == len(asked)
    stored = [datetime.fromisoformat(r["started_at"]) for r in recorded["runs"]]
    assert messages[0].created_at < min(stored) and max(stored) < messages[-1].created_at
    assert all(i["error"] is None for i in wb.chat.interactions(chat_id))
    for conversation_id, title in renamed.items():
        assert wb.conversations.get(conversation_id).title == title
        assert len(wb.conversations.messages(conversation_id)) == 1
