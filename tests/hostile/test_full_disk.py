"""A home on a small tmpfs that fills up: an import, an indexing, a chat turn and a backup each
fail with one error line and leave nothing half-written; with room again, the home opens,
passes ``doctor`` and holds what it held before.

A real tmpfs (root mounts it) and real processes of the CLI; the LLM is ``FakeOpenAI``.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES, mounted_tmpfs, run_workbench
from fake_openai import FakeOpenAI
from workbench import Workbench

pytestmark = pytest.mark.slow


@pytest.fixture
def disk(tmp_path: Path):
    """A 40 MiB tmpfs of the test's own."""
    yield from mounted_tmpfs(tmp_path / "disk", "40m")


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; its path."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = bytes(1 << 16)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(block) == 1:
                    return filler
                block = block[: len(block) // 2]
    finally:
        os.close(fd)


def _state(home: Path) -> dict:
    done = run_workbench(home, "stats", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.timeout(900)
def test_a_full_disk_fails_each_write_in_one_line_and_the_home_stays_whole(disk, embedder,
                                                                          monkeypatch):
    home = disk / "home"
    with Workbench.open(home, embedder) as wb:
        [done] = wb.imports.ingest([FIXTURES / "chatgpt_2025_linear.json"])
        assert done.status == "done", done.error
    with Workbench.open(home, embedder, index_on_ingest=False) as wb:
        [done] = wb.imports.ingest([FIXTURES / "claude_trimmed.json"])  # for the indexing
        assert done.status == "done", done.error
    before = _state(home)
    with FakeOpenAI("Back it up with a daily job.") as llm:
        monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", llm.base_url)
        monkeypatch.setenv("WORKBENCH_LLM_MODEL", llm.model)
        monkeypatch.setenv("COLUMNS", "300")
        filler = _fill(disk)
        for args in (["ingest", FIXTURES / "chatgpt_2024_tools.json"], ["maintain"],
                     ["chat", "How do I back up the database every day?"], ["backup"]):
            result = run_workbench(home, *args)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            [line] = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
            assert "No space left on device" in line, line
    filler.unlink()
    doctor = run_workbench(home, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout
    assert "fail" not in {c["status"] for c in json.loads(doctor.stdout)["checks"]}
    assert _state(home) == before
    assert list(home.glob("backups/*workbench-*")) == []  # no backup, not even a partial one
