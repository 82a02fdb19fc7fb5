from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.process import configure_process

# ruff: noqa: E402 - tests are an entry point: the process is configured before the workbench loads
configure_process()

from workbench import Workbench
from workbench.cli.main import app

FIXTURES = Path(__file__).parent / "fixtures"
# Derived model files (the ONNX query encoder) go to a folder of this run, not the user's cache;
# subprocesses, the app and notebook kernels inherit it.
if "WORKBENCH_CACHE_DIR" not in os.environ:
    os.environ["WORKBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="workbench-cache-")
    atexit.register(shutil.rmtree, os.environ["WORKBENCH_CACHE_DIR"], ignore_errors=True)
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


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def wb(home: Path) -> Workbench:
    return Workbench.open(home)


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


def run_workbench(home: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """The installed command in a real process (for exit codes, stderr and kill tests)."""
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300, **kwargs,
    )
