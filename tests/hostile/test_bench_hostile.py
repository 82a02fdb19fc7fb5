"""``workbench bench hostile`` at a small size: every case measured in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_hostile_measures_each_case_in_its_own_process(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "--home", str(home), "bench", "hostile",
         "--export-mb", "0.3", "--bomb-mib", "16", "--folder", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=850, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r for r in rows if r["traceback"]] == []
    imported, refused = rows[:3], rows[3:]
    assert [(r["rc"], r["error"]) for r in imported] == [(0, "")] * 3
    assert len(refused) == 17 and all(r["rc"] == 1 and r["error_lines"] == 1 for r in refused)
    assert all(r["error"].startswith("error: ") and str(tmp_path) not in r["error"]
               for r in refused)
    assert all(r["seconds"] > 0 and r["peak_rss_mb"] > 20 for r in rows)
    [stored] = (home / "bench").glob("hostile-*.json")
    assert json.loads(stored.read_text())["rows"] == rows
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == []  # files cleaned up
