"""One family of errors: what a person can fix is one line, a bug keeps its traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import (
    Ambiguous,
    EmptyMessage,
    ImportRejected,
    InvalidInput,
    LLMUnavailable,
    NotFound,
    StoreBusy,
    WorkbenchError,
)

# The CLI's own command group with two commands, in a process of its own as a user runs it.
_APP = textwrap.dedent("""
    import sys

    import typer

    from workbench.cli.common import Commands
    from workbench.errors import NotFound

    app = typer.Typer(cls=Commands)

    @app.command()
    def missing() -> None:
        raise NotFound("run 'abc123' does not exist")

    @app.command()
    def bug() -> None:
        {}["unexpected"]

    app(sys.argv[1:])
""")


def _run(tmp_path: Path, command: str) -> subprocess.CompletedProcess:
    script = tmp_path / "app.py"
    script.write_text(_APP)
    return subprocess.run([sys.executable, str(script), command], capture_output=True, text=True,
                           timeout=120)


def test_a_workbench_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    missing = _run(tmp_path, "missing")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == "error: run 'abc123' does not exist\n"
    bug = _run(tmp_path, "bug")
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "KeyError" in bug.stderr and "error: " not in bug.stderr


def test_every_error_has_a_code_and_a_status_and_keeps_the_old_catch_clauses():
    for kind in (NotFound, Ambiguous, InvalidInput, ImportRejected, EmptyMessage, StoreBusy,
                 LLMUnavailable):
        assert issubclass(kind, WorkbenchError) and kind.code != WorkbenchError.code
        assert 400 <= kind.status < 600
    # Callers that caught the built-in kinds before the family existed still catch them.
    assert issubclass(NotFound, LookupError) and issubclass(Ambiguous, NotFound)
    assert issubclass(InvalidInput, ValueError) and issubclass(StoreBusy, RuntimeError)
    rejected = ImportRejected("export.json", "line 3 is not a JSON object")
    assert str(rejected) == "export.json: line 3 is not a JSON object"
    assert (rejected.path, rejected.problem) == ("export.json", "line 3 is not a JSON object")


def test_library_messages_name_no_command_line_flag(wb):
    with pytest.raises(InvalidInput) as caught:
        wb.evals.generate(None, 0)
    assert str(caught.value) == "n must be at least 1"
    with pytest.raises(InvalidInput, match="unknown export format"):
        wb.conversations.export(wb.conversations.create(title="t").id, "pdf")


def test_the_cli_names_its_flags_and_turns_library_errors_into_one_line(cli):
    result = cli("eval", "generate", "--workspace", "default", "--n", "0", ok=False)
    assert result.exit_code == 1 and result.stderr == "error: --n must be at least 1\n"
    result = cli("eval", "generate", "--workspace", "nowhere", "--n", "2", ok=False)
    assert result.exit_code == 1 and result.stderr == "error: workspace 'nowhere' does not exist\n"
    result = cli("search", "x", "--retriever", "nope", ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: unknown retriever 'nope'")
    assert len(result.stderr.splitlines()) == 1
