"""Bounded reading: what an import file may cost before a byte of it is trusted.

Every limit here turns hostile input (a zip bomb, JSON nested 100k deep, a 5,000-digit number,
a FIFO, ``/dev/zero``) into one ``ImportRejected`` line instead of a traceback, a hang or the
kernel's OOM killer. The defaults are those of ``Settings``; ``Limits.of(settings)`` reads them.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

BLOCK = 1 << 20
_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class Refused(ValueError):
    """Input past a limit; the caller names the file (``str()`` is the problem alone)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one import file; each has a ``WORKBENCH_`` setting of the same name."""

    max_file_bytes: int = 4 << 30
    max_inflated_bytes: int = 2 << 30
    max_zip_members: int = 10000
    max_zip_ratio: float = 200.0
    max_json_depth: int = 64
    max_number_digits: int = 40
    max_message_chars: int = 1_000_000
    stream_json_bytes: int = 32 << 20

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def check_file(path: Path, limits: Limits) -> int:
    """The size of ``path``; refuses folders, special files (they never end) and huge files."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Refused("no such file") from None
    except OSError as exc:
        raise Refused(f"cannot read file ({exc.strerror or exc})") from None
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        raise Refused("is a folder; give the export files inside it")
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"is {_SPECIAL.get(kind, 'not a regular file')}, not a file")
    if info.st_size > limits.max_file_bytes:
        raise Refused(_over("file of", info.st_size, limits.max_file_bytes, "max_file_bytes"))
    return info.st_size


def _over(what: str, size: int, limit: int, setting: str) -> str:
    return f"{what} {size:,} bytes exceeds the limit of {limit:,} (WORKBENCH_{setting.upper()})"


def loads(text: str | bytes, limits: Limits) -> Any:
    """``json.loads`` with numbers bounded, NaN/Infinity refused and depth checked."""

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_number_digits:
            raise Refused(f"a number of {len(digits.lstrip('-'))} digits (limit "
                          f"{limits.max_number_digits}, WORKBENCH_MAX_NUMBER_DIGITS)")
        return int(digits)

    def real(digits: str) -> float:
        if len(digits) > limits.max_number_digits * 2:
            raise Refused(f"a number written with {len(digits)} characters")
        value = float(digits)
        if not math.isfinite(value):
            raise Refused(f"non-finite number {digits}")
        return value

    def constant(name: str) -> Any:
        raise Refused(f"non-finite number {name} (not JSON)")

    try:
        value = json.loads(text, parse_int=integer, parse_float=real, parse_constant=constant)
    except RecursionError:
        raise Refused(f"JSON nested deeper than {limits.max_json_depth} levels") from None
    check_value(value, limits)
    return value


def check_value(value: Any, limits: Limits) -> None:
    """Refuse a parsed value nested too deep, with a non-finite or huge number, or a huge text.

    Iterative, so the check itself cannot overflow the stack it protects.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limits.max_json_depth:
                raise Refused(f"JSON nested deeper than {limits.max_json_depth} levels "
                              "(WORKBENCH_MAX_JSON_DEPTH)")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children
                         if not isinstance(child, (str, bool)) and child is not None)
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refused(f"non-finite number {item}")
        elif isinstance(item, int) and item.bit_length() > limits.max_number_digits * 3.33:
            raise Refused(f"a number of more than {limits.max_number_digits} digits "
                          "(WORKBENCH_MAX_NUMBER_DIGITS)")


def stream_items(path: Path, limits: Limits) -> Iterator[Any]:
    """The items of the top-level JSON array in ``path``, one at a time (bounded memory)."""
    import ijson

    with open(path, "rb") as handle:
        try:
            for item in ijson.items(handle, "item", use_float=True):
                check_value(item, limits)
                yield item
        except ijson.JSONError as exc:
            raise Refused(f"invalid JSON ({' '.join(str(exc).split())[:200]})") from None


def extract_zip(path: Path, folder: Path, limits: Limits) -> list[tuple[str, Path]]:
    """Members of the zip at ``path`` copied into ``folder``: ``(name inside the zip, copy)``.

    Count, total inflated size and each member's ratio are judged from the central directory
    before anything is inflated, and the sizes again while inflating, since headers can lie.
    Folders and macOS debris are skipped.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist()
                     if not i.is_dir() and "__MACOSX" not in i.filename]
            _check_directory(infos, limits)
            return [(info.filename, _inflate(archive, info, folder / str(n), limits))
                    for n, info in enumerate(infos)]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, EOFError,
            NotImplementedError) as exc:
        raise Refused(f"damaged zip archive ({' '.join(str(exc).split())})") from None


def _check_directory(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_zip_members:
        raise Refused(f"zip of {len(infos):,} members exceeds the limit of "
                      f"{limits.max_zip_members:,} (WORKBENCH_MAX_ZIP_MEMBERS)")
    total = sum(i.file_size for i in infos)
    if total > limits.max_inflated_bytes:
        raise Refused(_over("zip inflating to", total, limits.max_inflated_bytes,
                            "max_inflated_bytes"))
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > BLOCK and ratio > limits.max_zip_ratio:
            raise Refused(f"zip member {info.filename} inflates {ratio:,.0f} times "
                          f"(limit {limits.max_zip_ratio:g}, WORKBENCH_MAX_ZIP_RATIO)")


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: Limits) -> Path:
    allowed = min(info.file_size, limits.max_inflated_bytes)
    written = 0
    with archive.open(info) as member, open(target, "wb") as out:
        while block := member.read(BLOCK):
            written += len(block)
            if written > allowed:
                raise Refused(f"zip member {info.filename} inflates past its declared size")
            out.write(block)
    return target
