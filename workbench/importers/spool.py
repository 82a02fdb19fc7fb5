"""A parsed file kept on disk batch by batch, so that no stage holds a big export whole.

Parsing and cleaning a file finish before the database is opened (a malformed file leaves no
trace, and the write lock is held only for the write); the records in between wait here rather
than in memory, and the store reads them back one batch at a time inside its one transaction.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import IO, Iterator

from workbench.records import ConversationRecord, ParsedFile, batched


class SpooledFile(ParsedFile):
    """A ``ParsedFile`` whose conversations live in a private temporary file.

    ``conversations`` stays empty: ``batches`` reads them back, the last copy of a source id
    replacing earlier ones as in ``ParsedFile.batches``. ``close`` (or leaving a ``with``
    block) removes the file. ``scratch``: the folder it goes in (None: the system's temporary
    folder; an encrypted home passes one inside its mount).
    """

    def __init__(self, format: str, scratch: Path | None = None):
        super().__init__(format, [])
        # Owner-only (0700) whatever the umask: the records hold message text.
        self._folder = tempfile.TemporaryDirectory(prefix="workbench-spool-", dir=scratch)
        self._path = Path(self._folder.name) / "records.pickle"
        self._writer: IO[bytes] | None = open(self._path, "wb")
        self._last: dict[str, int] = {}  # source id → the sequence number of its latest copy
        self._spaces: set[str | None] = set()
        self._messages = 0
        self._sequence = 0

    @property
    def message_count(self) -> int:
        return self._messages

    @property
    def conversation_count(self) -> int:
        return len(self._last)

    def add(self, batch: list[ConversationRecord]) -> None:
        if self._writer is None:
            raise RuntimeError("the spool is read or closed: nothing can be added")
        for record in batch:
            self._last[record.source_id] = self._sequence
            self._sequence += 1
            self._spaces.add(record.workspace)
            self._messages += len(record.messages)
        pickle.dump(batch, self._writer, protocol=pickle.HIGHEST_PROTOCOL)

    def batches(self, messages: int) -> Iterator[list[ConversationRecord]]:
        return batched(self._latest(), messages)

    def _latest(self) -> Iterator[ConversationRecord]:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        sequence = 0
        with open(self._path, "rb") as reader:
            while True:
                try:
                    # Only this process wrote the file, in a folder only its user can enter.
                    batch: list[ConversationRecord] = pickle.load(reader)
                except EOFError:
                    return
                for record in batch:
                    if self._last[record.source_id] == sequence:
                        yield record
                    sequence += 1

    def workspaces(self, default: str) -> set[str]:
        return {space or default for space in self._spaces}

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._folder.cleanup()

    def __enter__(self) -> SpooledFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
