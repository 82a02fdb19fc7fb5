"""The home is private, and reading it needs neither the write lock nor a writable home."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from blocked import read_only
from conftest import FIXTURES, copy_home, run_workbench
from workbench.home import exposed, make_private, tighten
from workbench.store import DuckDBStore
from workbench.store.migrations import migrate

pytestmark = pytest.mark.slow

READERS = [("stats", "--json"), ("search", "backup", "--json"), ("conversations", "list", "--json")]


def _modes(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): stat.S_IMODE(p.lstat().st_mode)
            for p in [home, *home.rglob("*")]}


def _listing(home: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in [home, *home.rglob("*")]}


def _run_readers(home: Path, prefix: list[str] | None = None) -> list[subprocess.CompletedProcess]:
    """Every read-only command once; a conversation's show and export too."""
    prefix = prefix or []
    listed = run_workbench(home, "conversations", "list", "--json", prefix=prefix)
    assert listed.returncode == 0, listed.stderr
    first = json.loads(listed.stdout)[0]["id"]
    runs = [run_workbench(home, *args, prefix=prefix) for args in READERS]
    runs += [run_workbench(home, "conversations", "show", first, prefix=prefix),
             run_workbench(home, "conversations", "export", first, "--format", "json",
                           prefix=prefix)]
    for proc in runs:
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.args, proc.stderr)
    return runs


def test_a_new_home_is_owner_only_whatever_the_umask(tmp_path):
    home = tmp_path / "home"
    proc = run_workbench(home, "ingest", FIXTURES / "chatgpt_2024_tools.json",
                         preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    modes = _modes(home)
    assert any(name.startswith("lancedb/") for name in modes) and "workbench.duckdb" in modes
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}
    assert modes["."] == 0o700 and modes["workbench.duckdb"] == 0o600


def test_library_use_makes_the_home_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        make_private(tmp_path / "a" / "home")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "home").stat().st_mode) == 0o700


def test_permissions_finds_and_fixes_an_exposed_home(tmp_path, indexed_home):
    home = copy_home(indexed_home, tmp_path / "home")
    home.chmod(0o755)
    (home / "workbench.duckdb").chmod(0o644)
    assert exposed(home) == [home, home / "workbench.duckdb"]
    stats = run_workbench(home, "stats")
    assert stats.returncode == 0 and "warning: " in stats.stderr and "2 entries" in stats.stderr
    check = run_workbench(home, "permissions")
    assert check.returncode == 1 and "workbench.duckdb" in check.stdout
    assert check.stderr.startswith("error: ") and len(check.stderr.splitlines()) == 1
    fixed = run_workbench(home, "permissions", "--fix")
    assert fixed.returncode == 0 and "2 entries" in fixed.stdout
    assert exposed(home) == [] and tighten(home) == []
    assert run_workbench(home, "permissions").returncode == 0
    assert "warning" not in run_workbench(home, "stats").stderr


def test_readers_write_nothing_to_a_read_only_home(tmp_path, indexed_home):
    """Read-only for real: as root (whom modes do not stop) a read-only mount of the home."""
    home = copy_home(indexed_home, tmp_path / "home")
    before = _listing(home)
    with read_only(home) as prefix:
        _run_readers(home, prefix)
        writer = run_workbench(home, "ingest", FIXTURES / "chatgpt_branches.json", prefix=prefix)
    assert writer.returncode == 1 and "Traceback" not in writer.stderr, writer.stderr
    [line] = writer.stderr.strip().splitlines()
    assert line.startswith("error: ") and "read-only" in line.lower(), line
    assert _listing(home) == before


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN TRANSACTION")
con.execute("DELETE FROM messages")
print("holding", flush=True)
time.sleep(600)
"""


def test_readers_work_while_another_process_holds_the_write_lock(tmp_path, indexed_home,
                                                                monkeypatch):
    home = copy_home(indexed_home, tmp_path / "home")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home / "workbench.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        stats = _run_readers(home)[0]
        # The holder's uncommitted delete is not seen; what was committed is.
        assert json.loads(stats.stdout)["messages"] > 0
        monkeypatch.setenv("WORKBENCH_LOCK_TIMEOUT_S", "1")
        blocked = run_workbench(home, "conversations", "rename", "nope", "x")
        assert blocked.returncode == 1 and "locked by another process" in blocked.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("workbench-read-*/workbench.duckdb"))


def test_a_reader_of_a_home_that_needs_a_migration_says_so(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "workbench.duckdb"))
    migrate(con, upto=3)
    con.close()
    proc = run_workbench(home, "stats")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: ") and "migration" in line and "m011_hostile" in line
    DuckDBStore(home / "workbench.duckdb").release()  # a writer migrates
    assert run_workbench(home, "stats").returncode == 0
