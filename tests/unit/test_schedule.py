"""`workbench schedule install | list | remove` against a crontab file (never the user's)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli.main import app
from workbench.evaluation.schedule import CronError, entries, job_line, tag, validate_cron

EXISTING = "MAILTO=me@example.org\n15 1 * * * /usr/bin/backup --quiet\n"


@pytest.fixture
def crontab(tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    path.write_text(EXISTING)
    return path


def test_install_shows_the_line_writes_it_and_keeps_other_jobs(cli, home, crontab, tmp_path):
    params = tmp_path / "nightly.json"
    params.write_text(json.dumps({"retrieval_eval": {"retrievers": ["hybrid-rrf.v2"]}}))
    result = cli("schedule", "install", "--cron", "0 3 * * *", "--params", params,
                 "--threshold", "R@10=0.01", "--crontab-file", crontab, "--yes")
    line = result.stdout.strip()
    resolved = home.resolve()
    assert line.startswith(f"0 3 * * * cd {shlex.quote(str(Path.cwd()))} && "
                           f"WORKBENCH_HOME={resolved} ")
    assert f"eval notebooks --params {params.resolve()} --threshold R@10=0.01 " in line
    assert line.endswith(f">> {resolved}/runs/cron.log 2>&1")
    assert (resolved / "runs").is_dir()  # cron's >> needs the folder
    text = crontab.read_text()
    assert text == EXISTING + f"{tag(home)}\n{line}\n"

    # Installing again replaces this home's entry; other lines stay where they were.
    cli("schedule", "install", "--cron", "30 2 * * 1-5", "--crontab-file", crontab, "--yes")
    [entry] = entries(crontab.read_text())
    assert entry.schedule == "30 2 * * 1-5" and entry.home == str(resolved)
    assert crontab.read_text().startswith(EXISTING)
    listed = cli.json("schedule", "list", "--crontab-file", crontab)
    assert listed == [entry.to_dict()]

    removed = cli("schedule", "remove", "--crontab-file", crontab)
    assert removed.stdout.startswith("removed: 30 2 * * 1-5 cd ")
    assert crontab.read_text() == EXISTING
    again = cli("schedule", "remove", "--crontab-file", crontab)
    assert "no scheduled evaluation" in again.stderr and crontab.read_text() == EXISTING
    assert cli.json("schedule", "list", "--crontab-file", crontab) == []


def test_install_asks_before_writing(home, crontab):
    runner = CliRunner()
    args = ["--home", str(home), "schedule", "install", "--cron", "@daily",
            "--crontab-file", str(crontab)]
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 1
    assert "@daily cd " in declined.stdout and "Write this line to" in declined.stdout
    assert crontab.read_text() == EXISTING
    accepted = runner.invoke(app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert [e.schedule for e in entries(crontab.read_text())] == ["@daily"]


@pytest.mark.parametrize("expression, message", [
    ("0 3 * *", "has 4 field(s); it needs 5"),
    ("0 3 * * * *", "has 6 field(s)"),
    ("", "has 0 field(s)"),
    ("61 3 * * *", "minute 61 is outside 0-59"),
    ("0 24 * * *", "hour 24 is outside 0-23"),
    ("0 3 0 * *", "day of month 0 is outside 1-31"),
    ("0 3 * 13 *", "month 13 is outside 1-12"),
    ("0 3 * * 8", "day of week 8 is outside 0-7"),
    ("*/0 * * * *", "minute step /0 must be 1-59"),
    ("30-10 * * * *", "runs backwards"),
    ("0 3 * foo *", "month value 'foo' is not a number or one of jan"),
    ("0 3 * * ?", "day of week field '?' is not"),
    ("@sometimes", "has 1 field(s)"),
])
def test_bad_cron_expressions_are_refused(cli, crontab, expression, message):
    with pytest.raises(CronError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("?", r"\?").replace("*", r"\*")):
        validate_cron(expression)
    result = cli("schedule", "install", "--cron", expression, "--crontab-file", crontab,
                 "--yes", ok=False)
    assert result.exit_code == 1 and message in result.stderr
    assert crontab.read_text() == EXISTING


@pytest.mark.parametrize("expression", [
    "0 3 * * *", "*/15 0-6,22-23 * * *", "0 9 1,15 jan-mar mon-fri", "5 4 * * 7", "@weekly",
    "  0   3 * *   sun ",
])
def test_good_cron_expressions(expression):
    assert validate_cron(expression) == " ".join(expression.split()).lower()


def test_a_bad_params_file_is_refused_at_install(cli, crontab, tmp_path):
    params = tmp_path / "typo.json"
    params.write_text(json.dumps({"retrieval_eval": {"retriver": "bm25.v1"}}))
    result = cli("schedule", "install", "--params", params, "--crontab-file", crontab, "--yes",
                 ok=False)
    assert result.exit_code == 1 and "declares no parameter retriver" in result.stderr
    assert crontab.read_text() == EXISTING


def test_a_yaml_params_file_is_checked_and_passed_on(cli, home, crontab, tmp_path):
    params = tmp_path / "nightly.yaml"
    params.write_text("retrieval_eval:\n  retrievers: [hybrid-rrf.v2, bm25.v1]\n  ks: [5, 10]\n"
                      "chunking_lab: {chunkers: [turn.v1]}\n")
    line = cli("schedule", "install", "--params", params, "--crontab-file", crontab,
               "--yes").stdout.strip()
    assert f" eval notebooks --params {params.resolve()} >> " in line


def test_the_line_runs_in_a_shell_as_cron_would_run_it(tmp_path):
    """Quoting survives spaces and %, which cron would otherwise turn into a newline."""
    home = tmp_path / "my home %d"
    workdir = tmp_path / "checkout dir"
    workdir.mkdir()
    (home / "runs").mkdir(parents=True)
    echo = [sys.executable, "-c",
            "import os, sys; print(os.getcwd(), os.environ['WORKBENCH_HOME'], sys.argv[1:])"]
    line = job_line("0 3 * * *", home, workdir, ["--params", str(tmp_path / "p 1.json")], echo)
    command = line.split(" ", 5)[5].replace("\\%", "%")  # what cron hands to /bin/sh
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=60)
    logged = (home / "runs" / "cron.log").read_text().splitlines()
    assert logged == [  # the index upkeep first, then the evaluation
        f"{workdir.resolve()} {home.resolve()} {['maintain']}",
        f"{workdir.resolve()} {home.resolve()} "
        f"{['eval', 'notebooks', '--params', str(tmp_path / 'p 1.json')]}"]


def test_no_crontab_command_is_a_clear_error(cli, monkeypatch, tmp_path):
    # An empty PATH: the user's real crontab cannot be reached, whatever this machine has.
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli("schedule", "list", ok=False)
    assert result.exit_code == 1 and "no crontab command here" in result.stderr


def test_backup_entry_lives_beside_the_evaluation(cli, home, crontab, tmp_path):
    cli("schedule", "install", "--cron", "0 3 * * *", "--crontab-file", crontab, "--yes")
    result = cli("schedule", "install", "--backup", "--to", tmp_path / "b", "--keep-daily", "3",
                 "--crontab-file", crontab, "--yes")
    line = result.stdout.strip()
    resolved = home.resolve()
    assert line.startswith("30 2 * * * cd ") and f"WORKBENCH_HOME={resolved} " in line
    assert line.endswith(f" backup --to {(tmp_path / 'b').resolve()} --keep-daily 3 "
                         f"--keep-weekly 4 >> {resolved}/runs/cron.log 2>&1")
    listed = cli.json("schedule", "list", "--crontab-file", crontab)
    assert [(e["kind"], e["schedule"]) for e in listed] == [("eval", "0 3 * * *"),
                                                           ("backup", "30 2 * * *")]
    removed = cli("schedule", "remove", "--backup", "--crontab-file", crontab)
    assert removed.stdout.startswith("removed: 30 2 * * * cd ")
    assert [e["kind"] for e in cli.json("schedule", "list", "--crontab-file", crontab)] == ["eval"]
    assert crontab.read_text().startswith(EXISTING)
    again = cli("schedule", "remove", "--backup", "--crontab-file", crontab)
    assert "no scheduled backup" in again.stderr
