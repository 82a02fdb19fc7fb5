"""The production image cannot be built here (no Docker engine): its Dockerfile is linted and its
entrypoint checked against the CLI it starts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from workbench.cli.main import app

DOCKERFILE = Path(__file__).parents[2] / "Dockerfile"


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_shape():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    assert stages[0][0] == stages[1][0]  # one base: the virtualenv's Python is the runtime's
    torch = text.index("download.pytorch.org/whl/cpu torch==")
    assert torch < text.index("pip install .")  # the CPU wheel before anything pulls CUDA
    [user] = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert user.isdigit() and user != "0"
    assert "HEALTHCHECK" in text and "/_stcore/health" in text


def test_entrypoint_is_a_command_the_cli_has():
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["workbench"]' in text
    command = re.search(r'^CMD \[(.*)\]$', text, re.MULTILINE).group(1)
    args = [a.strip().strip('"') for a in command.split(",")]
    assert args[:3] == ["serve", "--address", "0.0.0.0"]
    help_text = CliRunner().invoke(app, [args[0], "--help"]).output
    for option in (a for a in args if a.startswith("--")):
        assert option in help_text
