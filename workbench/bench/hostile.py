"""Hostile input, measured: each case imported by the real command in a process of its own,
with its exit status, its error line, its time and its peak resident memory.

The files are the ones a hostile user (or a very large export) would feed ``workbench ingest``;
``tests/hostile`` checks the same files for one error line and nothing written.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.bench import synthetic


def chatgpt(cid: str, text: str, title: str = "a title", created: object = 1700000000) -> dict:
    """A one-message ChatGPT conversation (a root node and one user message)."""
    return {
        "id": cid, "conversation_id": cid, "title": title, "create_time": created,
        "current_node": "m", "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["m"]},
            "m": {"id": "m", "parent": "root", "children": [], "message": {
                "id": "m", "author": {"role": "user"}, "create_time": created,
                "content": {"content_type": "text", "parts": [text]}}},
        },
    }


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value))
    return path


def zip_bomb(path: Path, inflated: int) -> Path:
    """A zip whose one member is ``inflated`` zero bytes (about a thousandth of that on disk)."""
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("conversations.json", "w", force_zip64=True) as member:
            for _ in range(inflated // len(block)):
                member.write(block)
    return path


def lying_zip(path: Path) -> Path:
    """A zip whose headers say its member holds 10 bytes; it inflates to 4 MiB."""
    payload = json.dumps([chatgpt("z", "x" * (4 << 20))]).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", payload)
    data = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset:at + offset + 4] = struct.pack("<I", 10)
    path.write_bytes(bytes(data))
    return path


def rejected_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """Name → (file, a phrase its one error line must hold)."""
    folder.mkdir(parents=True, exist_ok=True)
    deep = folder / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    bigint = folder / "bigint.json"
    bigint.write_text('[{"title": "t", "mapping": {}, "create_time": ' + "9" * 5000 + "}]")
    nan = folder / "nan.json"
    nan.write_text(json.dumps([chatgpt("n", "nan")])[:-2] + ', "score": NaN}]')
    infinity = folder / "infinity.json"
    infinity.write_text(json.dumps([chatgpt("i", "inf")])[:-2] + ', "score": 1e999}]')
    huge = write_json(folder / "huge.json", [chatgpt("h", "word " * 300_000)])
    csv_file = folder / "unclosed.csv"
    csv_file.write_text('conversation_id,role,content\nc1,user,"hello\nc1,assistant,hi\n')
    fifo = folder / "fifo.json"
    if not fifo.exists():
        os.mkfifo(fifo)
    many = folder / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(12):
            archive.writestr(f"part{n}.json", "[]")
    truncated = folder / "truncated.json"
    truncated.write_text(json.dumps([chatgpt("t", "cut")])[:-40])
    return {
        "deep": (deep, "nested deeper than"),
        "bigint": (bigint, "a number of 5000 digits"),
        "nan": (nan, "non-finite number NaN"),
        "infinity": (infinity, "non-finite number"),
        "huge": (huge, "exceeds the limit of 1,000,000"),
        "unclosed_csv": (csv_file, "row starting on line 2"),
        "fifo": (fifo, "is a FIFO"),
        "dev_zero": (Path("/dev/zero"), "is a character device"),
        "zip_bomb": (zip_bomb(folder / "bomb.zip", 64 << 20), "inflates 1,0"),
        "lying_zip": (lying_zip(folder / "lying.zip"), "zip"),
        "many_members": (many, "exceeds the limit of 10"),
        "truncated": (truncated, "invalid JSON"),
        "folder": (folder, "is a folder"),
        "missing": (folder / "missing.json", "no such file"),
    }


@dataclass
class Case:
    """One ``workbench ingest`` of ``paths`` into a fresh home, with settings in ``env``."""

    name: str
    paths: list[Path]
    env: dict[str, str] = field(default_factory=dict)


def big_cases(folder: Path, export_bytes: int, bomb_bytes: int) -> list[Case]:
    """A generated ChatGPT export of ``export_bytes``, streamed and (the plain way) loaded whole,
    the same zipped, and a zip of zeros inflating to ``bomb_bytes``: refused from its
    directory, and, with the ratio limit lifted, inflated to disk and refused for its content."""
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "conversations.json"
    synthetic.write_chatgpt_export(export, export_bytes)
    zipped = folder / "export.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(export, "conversations.json")
    bomb = zip_bomb(folder / "bomb-big.zip", bomb_bytes)
    size = f"{export_bytes / 1e6:,.0f} MB"
    inflated = f"{bomb_bytes / 2**30:,.2f} GiB".replace(".00 ", " ")
    return [
        Case(f"ChatGPT export {size}, streamed", [export]),
        Case(f"ChatGPT export {size}, loaded whole", [export],
             {"WORKBENCH_STREAM_JSON_BYTES": str(1 << 40)}),
        Case(f"the same export zipped ({zipped.stat().st_size / 1e6:,.0f} MB)", [zipped]),
        Case(f"zip of zeros inflating to {inflated}", [bomb]),
        Case(f"zip of zeros inflating to {inflated}, ratio limit lifted", [bomb],
             {"WORKBENCH_MAX_ZIP_RATIO": "1e12",
              "WORKBENCH_MAX_INFLATED_BYTES": str(max(bomb_bytes, 2 << 30))}),
        Case("one message of 10,000,000 characters",
             [write_json(folder / "long.json", [chatgpt("l", "word " * 2_000_000)])]),
    ]


def measure(case: Case, home: Path) -> dict[str, Any]:
    """Run the case's import in a child process; its status, first error line, time and the
    peak resident memory of that child alone (``wait4``)."""
    env = {**os.environ, "WORKBENCH_INDEX_ON_INGEST": "false", "COLUMNS": "200", **case.env}
    command = [sys.executable, "-m", "workbench", "--home", str(home), "ingest",
               *map(str, case.paths)]
    with open(home.parent / f"{home.name}.out", "w+") as out, \
            open(home.parent / f"{home.name}.err", "w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env,
                                 stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    return {
        "case": case.name, "rc": child.returncode,
        "error": errors[0] if errors else "", "error_lines": len(errors),
        "traceback": "Traceback" in stderr, "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }


def run_hostile_benchmark(folder: Path, export_bytes: int = 200_000_000,
                          bomb_bytes: int = 1 << 30) -> list[dict[str, Any]]:
    """Every case once, in ``folder`` (which needs room for the files, the bomb inflated and
    the homes)."""
    bad = rejected_cases(folder / "bad")
    cases = big_cases(folder / "big", export_bytes, bomb_bytes)
    cases += [Case(name, [path], {"WORKBENCH_MAX_ZIP_MEMBERS": "10"})
              for name, (path, _) in bad.items()]
    rows = []
    for number, case in enumerate(cases):
        row = measure(case, folder / f"home-{number}")
        row["error"] = row["error"].replace(f"{folder}/", "")  # the table names files, not tmp
        rows.append(row)
    return rows
