"""The errors a person can do something about, as one family.

A face shows a ``WorkbenchError`` as one line (the CLI's ``error: ...``, the app's ``st.error``,
a server's JSON error with ``status``); any other exception is a bug and keeps its traceback.
Messages name the thing at fault in the library's terms, never a command-line flag: the face
that knows its flags may add them.
"""

from __future__ import annotations

import errno
import os

from pathlib import Path


class WorkbenchError(Exception):
    """A failure caused by the input or the surroundings, not by the code; ``str()`` is one line.

    ``code`` is a stable short name and ``status`` the HTTP status a server answers with.
    """

    code = "error"
    status = 500


class NotFound(WorkbenchError, LookupError):
    """No conversation, message, workspace, eval set, run or batch by that name or id."""

    code = "not_found"
    status = 404


class Ambiguous(NotFound):
    """A prefix that matches several things; naming more of it finds one."""

    code = "ambiguous"
    status = 409


class InvalidInput(WorkbenchError, ValueError):
    """An argument or a file the workbench cannot use as given."""

    code = "invalid_input"
    status = 400


class ImportRejected(InvalidInput):
    """The whole file cannot be imported; ``str()`` is one line naming the file and the problem."""

    code = "import_rejected"
    status = 422

    def __init__(self, path: Path | str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class EmptyMessage(InvalidInput):
    """The message has no visible text once control characters are removed."""

    code = "empty_message"


class StoreBusy(WorkbenchError, RuntimeError):
    """Another process kept the database locked for longer than we are willing to wait."""

    code = "store_busy"
    status = 503


class LLMUnavailable(WorkbenchError):
    """The model endpoint cannot answer; ``str(exc)`` is one human line naming the endpoint."""

    code = "llm_unavailable"
    status = 503


class Unauthorized(WorkbenchError):
    """No valid credentials: a wrong password, an unknown or revoked key, an expired token."""

    code = "unauthorized"
    status = 401


class RateLimited(WorkbenchError):
    """Too many requests in the window; ``retry_after_s`` says when the next one is accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: int):
        self.retry_after_s = retry_after_s
        super().__init__(message)


class TooLarge(InvalidInput):
    """A request body larger than the server accepts; refused before it is read whole."""

    code = "too_large"
    status = 413


class StoreOutdated(WorkbenchError):
    """The database's schema is older than this code, and a reader may not upgrade it."""

    code = "store_outdated"
    status = 503


class BackupInvalid(InvalidInput):
    """A backup that is missing, incomplete (no manifest) or corrupt; ``str()`` names it and
    what is wrong."""

    code = "backup_invalid"
    status = 422


class HomeInUse(WorkbenchError):
    """Another process has the home's database open, so it cannot be replaced now."""

    code = "home_in_use"
    status = 409


class BackupFailed(WorkbenchError):
    """A backup or a restore could not write its files (a full disk, an index file that
    vanished while it was copied); nothing it began is left behind."""

    code = "backup_failed"
    status = 507


class StoreUnavailable(WorkbenchError, RuntimeError):
    """The database server cannot be reached or refused the connection."""

    code = "store_unavailable"
    status = 503


class StoreNotWritable(WorkbenchError):
    """The home's database cannot be opened for writing (a read-only file system, no write
    permission); commands that only read still work."""

    code = "store_not_writable"
    status = 503


class HomeLocked(WorkbenchError):
    """An encrypted home opened without its key, or with a wrong one; nothing was changed."""

    code = "home_locked"
    status = 403


class EncryptionUnavailable(WorkbenchError):
    """An encrypted home needs gocryptfs and FUSE, and one of them is missing here."""

    code = "encryption_unavailable"
    status = 503


class DiskFull(WorkbenchError):
    """The disk under the home filled up during a write; the change was rolled back whole."""

    code = "disk_full"
    status = 507

    # DuckDB and LanceDB report ENOSPC in errors of their own, quoting the OS's words.
    REASON = os.strerror(errno.ENOSPC)

    @classmethod
    def caused(cls, exc: BaseException) -> bool:
        return cls.REASON in str(exc)
