"""Scheduled evaluation: one crontab entry per workbench home, written only when asked.

An entry is two lines: a comment that names the home (the tag ``remove`` and ``list`` look
for) and the job, which runs ``workbench maintain`` (the index upkeep a home that only chats
needs) and then ``workbench eval notebooks``, whatever the first did, from the directory it was
installed from (where ``.env`` lives), and appends their output to ``<home>/runs/cron.log``. The crontab is
the user's (``crontab -l`` / ``crontab -``) or, for tests and system cron folders, a file.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InvalidInput, WorkbenchError
from workbench.ops.encryption import MARKER

TAG = "# workbench eval notebooks · home="
BACKUP_TAG = "# workbench backup · home="
MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, lowest, highest, names that stand for numbers from ``lowest`` on)
_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),  # 0 and 7 are both Sunday
)
_PART = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


class CronError(InvalidInput):
    """A cron expression that cron would reject or misread."""


class CrontabError(WorkbenchError):
    """The crontab could not be read or written."""

    code = "crontab_unavailable"
    status = 503


def validate_cron(expression: str) -> str:
    """The expression with single spaces, or ``CronError`` naming the field and the problem."""
    text = " ".join(expression.split()).lower()
    if text in MACROS:
        return text
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise CronError(
            f"cron expression {expression!r} has {len(fields)} field(s); it needs 5 "
            "(minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") or one of "
            + ", ".join(MACROS)
        )
    for value, (name, low, high, names) in zip(fields, _FIELDS):
        for part in value.split(","):
            _check_part(part, name, low, high, names, expression)
    return text


def _check_part(part: str, name: str, low: int, high: int, names: list[str] | None,
                expression: str) -> None:
    match = _PART.match(part)
    if not match:
        raise CronError(f"cron expression {expression!r}: {name} field {part!r} is not "
                        "*, N, N-M, a list of those, or one of them with /STEP")
    if match["step"] is not None and not 1 <= int(match["step"]) <= high:
        raise CronError(f"cron expression {expression!r}: {name} step /{match['step']} "
                        f"must be 1-{high}")
    if match["range"] == "*":
        return
    bounds = [_number(x, name, low, names, expression) for x in match["range"].split("-")]
    for bound in bounds:
        if not low <= bound <= high:
            raise CronError(f"cron expression {expression!r}: {name} {bound} is outside "
                            f"{low}-{high}")
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise CronError(f"cron expression {expression!r}: {name} range {part!r} runs backwards")


def _number(text: str, name: str, low: int, names: list[str] | None, expression: str) -> int:
    if text.isdigit():
        return int(text)
    if names and text in names:
        return names.index(text) + low
    raise CronError(f"cron expression {expression!r}: {name} value {text!r} is not a number"
                    + (f" or one of {', '.join(names)}" if names else ""))


@dataclass
class Entry:
    """A scheduled evaluation found in a crontab: the home it serves, when, and the job line."""

    home: str
    schedule: str
    line: str
    kind: str = "eval"

    def to_dict(self) -> dict[str, str]:
        return {"home": self.home, "schedule": self.schedule, "line": self.line,
                "kind": self.kind}


def tag(home: Path | str, prefix: str = TAG) -> str:
    return f"{prefix}{Path(home).resolve()}"


def _cron_quote(value: str) -> str:
    # cron turns an unescaped % of the command into a newline, even inside shell quotes.
    return shlex.quote(value).replace("%", "\\%")


def workbench_command() -> list[str]:
    """How to start this installation's CLI from cron, whose PATH knows nothing of the venv."""
    script = Path(sys.executable).parent / "workbench"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "workbench.cli"]


def cron_log(home: Path | str) -> Path:
    """Where a scheduled job's output goes: ``HOME/runs/cron.log``; beside an encrypted home
    (``HOME.cron.log``), whose folder holds only what gocryptfs wrote: the shell opens the log
    before the job has the home mounted."""
    home = Path(home).resolve()
    if (home / MARKER).is_file():
        return home.with_name(f"{home.name}.cron.log")
    return home / "runs" / "cron.log"


def _assignments(home: Path, env: dict[str, str] | None) -> str:
    pairs = {"WORKBENCH_HOME": str(home), **(env or {})}
    return " ".join(f"{name}={_cron_quote(value)}" for name, value in pairs.items())


def job_line(schedule: str, home: Path | str, workdir: Path | str, arguments: list[str],
             command: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """The crontab line: ``SCHEDULE cd WORKDIR && WORKBENCH_HOME=HOME [ENV] workbench maintain
    >> LOG 2>&1; WORKBENCH_HOME=HOME [ENV] workbench eval notebooks ARGS >> LOG 2>&1`` (LOG:
    ``cron_log(HOME)``; ENV: more variables, such as an encrypted home's key file).
    """
    home = Path(home).resolve()
    program = " ".join(_cron_quote(x) for x in (command or workbench_command()))
    args = "".join(f" {_cron_quote(a)}" for a in arguments)
    log = _cron_quote(str(cron_log(home)))
    variables = _assignments(home, env)
    return (f"{validate_cron(schedule)} cd {_cron_quote(str(Path(workdir).resolve()))} && "
            f"{variables} {program} maintain >> {log} 2>&1; "
            f"{variables} {program} eval notebooks{args} >> {log} 2>&1")


def backup_line(schedule: str, home: Path | str, workdir: Path | str, arguments: list[str],
                command: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """The crontab line of a scheduled backup: ``SCHEDULE cd WORKDIR && WORKBENCH_HOME=HOME
    [ENV] workbench backup ARGS >> LOG 2>&1`` (as ``job_line``)."""
    home = Path(home).resolve()
    program = " ".join(_cron_quote(x) for x in (command or workbench_command()))
    args = "".join(f" {_cron_quote(a)}" for a in arguments)
    log = _cron_quote(str(cron_log(home)))
    return (f"{validate_cron(schedule)} cd {_cron_quote(str(Path(workdir).resolve()))} && "
            f"{_assignments(home, env)} {program} backup{args} >> {log} 2>&1")


def entries(text: str) -> list[Entry]:
    """Every workbench entry of a crontab (evaluations and backups), whatever home it serves."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        for prefix, kind in ((TAG, "eval"), (BACKUP_TAG, "backup")):
            if line.startswith(prefix) and number + 1 < len(lines):
                job = lines[number + 1]
                schedule = (job.split(" ", 1)[0] if job.startswith("@")
                            else " ".join(job.split()[:5]))
                found.append(Entry(line[len(prefix):], schedule, job, kind))
    return found


def with_entry(text: str, home: Path | str, line: str, prefix: str = TAG) -> str:
    """The crontab with this home's entry set to ``line`` (replacing an older one)."""
    kept = without_entry(text, home, prefix)[0].rstrip("\n")
    return (kept + "\n" if kept else "") + f"{tag(home, prefix)}\n{line}\n"


def without_entry(text: str, home: Path | str, prefix: str = TAG) -> tuple[str, list[str]]:
    """The crontab without this home's entry, and the job lines taken out."""
    marker = tag(home, prefix)
    lines = text.splitlines()
    kept, removed = [], []
    skip = False
    for line in lines:
        if skip:
            removed.append(line)
            skip = False
        elif line == marker:
            skip = True
        else:
            kept.append(line)
    return ("\n".join(kept) + "\n" if kept else ""), removed


def read_crontab(path: Path | None = None) -> str:
    """The crontab's text: ``path`` if given (missing = empty), else the user's."""
    if path is not None:
        return path.read_text(encoding="utf-8") if path.exists() else ""
    result = subprocess.run([_crontab_binary(), "-l"], capture_output=True, text=True)
    if result.returncode != 0:
        if "no crontab" in result.stderr.lower():
            return ""
        raise CrontabError(f"crontab -l failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def write_crontab(text: str, path: Path | None = None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    result = subprocess.run([_crontab_binary(), "-"], input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise CrontabError(f"crontab - failed: {result.stderr.strip() or result.returncode}")


def _crontab_binary() -> str:
    found = shutil.which("crontab")
    if not found:
        raise CrontabError("no crontab command here: install cron, or write the entry into a "
                           "file with --crontab-file and load it yourself")
    return found
