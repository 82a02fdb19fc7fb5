"""nbval setup: `pytest --nbval-lax --nbval-current-env notebooks/` runs every notebook with its
default parameters against a throwaway home.

The home (a session temp folder, removed afterwards) holds two small fixture exports, indexed
before the first kernel starts, so the defaults take seconds rather than ingesting
data/samples. Jupyter and IPython write under the same folder, so a read-only HOME is fine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SMALL = ["legacy_nosso_projeto.db", "chatgpt_branches.json"]


def pytest_configure(config) -> None:
    root = Path(tempfile.mkdtemp(prefix="workbench-nbval-"))
    config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    # Kernels inherit this process's environment when nbval starts them.
    os.environ.update({
        "WORKBENCH_HOME": str(root / "home"),
        "WORKBENCH_CACHE_DIR": str(root / "cache"),
        "IPYTHONDIR": str(root / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
        "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
        "MPLCONFIGDIR": str(root / "matplotlib"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "LANCEDB_LOG": os.environ.get("LANCEDB_LOG", "error"),
    })


def pytest_sessionstart(session) -> None:
    from workbench import Workbench

    with Workbench.open(os.environ["WORKBENCH_HOME"]) as wb:
        results = wb.imports.ingest([FIXTURES / f for f in SMALL])
    failed = [r.error for r in results if r.status != "done"]
    assert not failed, failed
