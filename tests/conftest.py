from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from typer.testing import CliRunner

from workbench.process import configure_process

# ruff: noqa: E402 - tests are an entry point: the process is configured before the workbench loads
configure_process()

from workbench import Workbench, load_settings
from workbench.embeddings.model import Embedder
from workbench.logs import configure_logging
from workbench.cli.main import app
from workbench.evaluation.batches import NOTEBOOKS_DIR

TESTS = Path(__file__).parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
APP = REPO / "app_streamlit.py"
# Derived model files (the ONNX query encoder) go to a folder of this run, not the user's cache;
# subprocesses, the app and notebook kernels inherit it.
if "WORKBENCH_CACHE_DIR" not in os.environ:
    os.environ["WORKBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="workbench-cache-")
    atexit.register(shutil.rmtree, os.environ["WORKBENCH_CACHE_DIR"], ignore_errors=True)
# One log folder for the run: the CLI, run in-process, would otherwise set up its log file in
# the home of the first test that calls it, and every later record would land there.
_LOGS = tempfile.mkdtemp(prefix="workbench-logs-")
atexit.register(shutil.rmtree, _LOGS, ignore_errors=True)
configure_logging(_LOGS)
EXPORTS = [
    "chatgpt_2024_tools.json",
    "chatgpt_branches.json",
    "chatgpt_2025_linear.json",
    "claude_trimmed.json",
    "openwebui_chat.json",
    "sharegpt_dummy.json",
    "legacy_nosso_projeto.db",
    "locomo_dev.json",
]
# Several exports in one workspace: the user's own history, English and Portuguese.
HISTORY = ["chatgpt_2024_tools.json", "chatgpt_branches.json", "chatgpt_2025_linear.json",
           "claude_trimmed.json", "openwebui_chat.json", "legacy_nosso_projeto.db"]
# The session's indexed home, workspace by workspace: retrieval reads "default" and "other",
# evaluation "mine". A file imported into two workspaces is two sets of conversations.
INDEXED = {
    "default": ["legacy_nosso_projeto.db", "chatgpt_2025_linear.json"],
    "other": ["chatgpt_branches.json"],
    "mine": HISTORY,
}
E2E = TESTS / "e2e"
# The parameters each evaluation notebook declares, in order.
NOTEBOOK_PARAMETERS = {
    "retrieval_eval": ["home", "eval_set", "queries", "retrievers", "retriever_params", "ks",
                       "chunker", "label", "batch_id", "output_path"],
    "explore_history": ["home", "workspace", "sample", "seed", "top"],
    "chunking_lab": ["home", "eval_set", "queries", "chunkers", "retriever", "ks", "label",
                     "batch_id", "output_path"],
}


def read_notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every end-to-end test is slow, so `-m "not slow"` leaves out browsers, servers and kernels."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.slow)


def ingest_into(home: Path, layout: dict[str, list[str]], embedder: Embedder | None = None,
                **overrides) -> Workbench:
    """A workbench at ``home`` holding each workspace's fixture exports, every import done."""
    wb = Workbench.open(home, embedder, **overrides)
    for workspace, names in layout.items():
        results = wb.imports.ingest([FIXTURES / name for name in names], workspace=workspace)
        assert [r.status for r in results] == ["done"] * len(names), [r.error for r in results]
    return wb


def copy_home(source: Path, target: Path) -> Path:
    """A home of one's own to write to, with the files of ``source`` (a store, an index)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.wait.*"))
    return target


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Workbench]:
    """The fixture exports imported and indexed once for the whole run (see ``INDEXED``).

    Nothing writes to it: readers share it; a test that writes takes ``indexed_copy`` or
    copies ``indexed_home`` with ``copy_home``."""
    wb = ingest_into(tmp_path_factory.mktemp("indexed") / "home", INDEXED, embedder)
    with wb:
        yield wb


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The legacy sample export that `make demo` imports, imported and indexed once; tests
    that write copy it with ``copy_home``."""
    home = tmp_path_factory.mktemp("sample") / "home"
    with Workbench.open(home, embedder) as wb:
        [result] = wb.imports.ingest([REPO / "data" / "samples" / "legacy_nosso_projeto.db"],
                                     workspace="default")
        assert result.status == "done", result.error
    return home


@pytest.fixture(scope="session")
def indexed_home(indexed: Workbench) -> Path:
    return indexed.settings.home


@pytest.fixture
def indexed_copy(indexed_home: Path, tmp_path: Path, embedder: Embedder) -> Iterator[Workbench]:
    with Workbench.open(copy_home(indexed_home, tmp_path / "indexed"), embedder) as wb:
        yield wb


def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size`` (a full disk on demand) for a fixture to yield, then
    unmounted; the test is skipped where mounting needs a root this process is not."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield path
    subprocess.run(["umount", str(path)], check=True)


def wait_until(condition: Callable[[], object], within_s: float = 30.0) -> bool:
    """Polls ``condition`` until it holds or ``within_s`` has passed; says whether it held."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL 16 + pgvector server for the whole run (pgserver: no Docker),
    deleted when the run ends. It holds ``workbench_template``, a database migrated once, that
    each test's database is cloned from."""
    import warnings

    import psycopg

    from workbench.store.postgres import PostgresStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR in CI
        import pgserver
        from pgserver._commands import pg_ctl

        # Not under pytest's own temp folder: pytest makes that private to root again at the
        # start of every run, and the server runs as another user when we are root.
        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="workbench-pg-")) / "data",
                                     cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as con:
        con.execute("CREATE DATABASE workbench_template")
    PostgresStore(server.get_uri("workbench_template")).release()
    yield server
    # Its data goes with it, so nothing needs the checkpoint of a clean stop (pgserver's own
    # cleanup takes seconds more).
    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)
    atexit.unregister(server._cleanup)
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A new database of the latest schema on the run's server (a clone of the migrated
    template), as a postgresql:// URL."""
    import psycopg

    name = f"t{next(_DATABASES)}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE workbench_template")
    return postgres_server.get_uri(name)


_DATABASES = itertools.count()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    """One model for the whole run, lent to the workbenches of the tests (loading one per
    workbench costs about 2 s)."""
    config = load_settings()
    yield Embedder(config.embedding_model, config.device, query_encoder=config.query_encoder,
                   cache_dir=config.cache_dir)


@pytest.fixture
def wb(home: Path, embedder: Embedder) -> Iterator[Workbench]:
    with Workbench.open(home, embedder) as opened:
        yield opened


@pytest.fixture
def wb_factory(embedder: Embedder) -> Iterator[Callable[..., Workbench]]:
    """Opens workbenches with settings of the test's choosing; closes them at the end."""
    opened: list[Workbench] = []

    def open_(home: Path, **overrides) -> Workbench:
        opened.append(Workbench.open(home, embedder, **overrides))
        return opened[-1]

    yield open_
    for wb in opened:
        wb.close()


class Cli:
    """Runs the real Typer app in-process against one workbench home."""

    def __init__(self, home: Path):
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(app, ["--home", str(self.home), *map(str, args)])
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


def run_workbench(home: Path, *args: str, prefix: tuple[str, ...] | list[str] = (),
                  **kwargs) -> subprocess.CompletedProcess:
    """The installed command in a real process (for exit codes, stderr and kill tests);
    ``prefix`` runs it under another command (``unshare``, for a read-only mount)."""
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "workbench.cli", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300, **kwargs,
    )
