"""The errors a person can do something about, as one family.

A face shows a ``WorkbenchError`` as one line (the CLI's ``error: ...``, the app's ``st.error``,
a server's JSON error with ``status``); any other exception is a bug and keeps its traceback.
Messages name the thing at fault in the library's terms, never a command-line flag: the face
that knows its flags may add them.
"""

from __future__ import annotations

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


class StoreUnavailable(WorkbenchError, RuntimeError):
    """The database server cannot be reached or refused the connection."""

    code = "store_unavailable"
    status = 503
