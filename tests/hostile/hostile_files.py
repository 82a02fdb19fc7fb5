"""Files a hostile user would feed the importer, each with the problem its error line names."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path


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
