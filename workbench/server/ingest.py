"""``/api/v1/ingest`` and ``/api/v1/jobs``: an uploaded export imported in the background.

An upload is written to a folder of its own in the home, then imported by ``wb.imports`` on
one worker (DuckDB takes one writer; an import is one transaction, so a failed file leaves
nothing behind); the job says how far it got, what it added, its warnings or its one error.
Each job is kept as a small JSON file in the home (``jobs/``), so its answer outlives the
server; a job the server was running when it stopped is answered as failed, nothing written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile

from workbench.api import Workbench
from workbench.errors import NotFound, WorkbenchError
from workbench.home import make_private
from workbench.records import User
from workbench.server.deps import ERRORS, WB, Who, in_worker
from workbench.server.schemas import JobOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", responses=ERRORS)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_COPY_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 0.5  # progress reaches the job's file at most this often
_STOPPED = "the server stopped before this import finished; nothing of it was written"


class Jobs:
    """Import jobs, run one at a time; this server's in memory, every job's in the home."""

    def __init__(self, wb: Workbench):
        self.wb = wb
        self.uploads = wb.settings.home / "uploads"
        self.folder = wb.settings.home / "jobs"
        self._jobs: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()
        self._index_queued = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-job")
        self._settle()

    def submit(self, user: User, upload: UploadFile, workspace: str | None,
               format: str | None) -> dict[str, Any]:
        job_id = str(uuid.uuid4())
        name = _UNSAFE.sub("_", Path(upload.filename or "upload").name).strip("._") or "upload"
        folder = self.uploads / job_id
        folder.mkdir(parents=True)
        path = folder / name
        with path.open("wb") as handle:
            shutil.copyfileobj(upload.file, handle, _COPY_CHUNK)
        job = {"id": job_id, "status": "queued", "filename": name,
               "workspace": workspace or self.wb.settings.default_workspace,
               "progress": {}, "result": None, "error": None}
        with self._lock:
            self._jobs[job_id] = job
            self._owners[job_id] = user.id
        self._keep(job)
        self._worker.submit(self._run, job, path, workspace, format)
        return dict(job)

    def get(self, user: User, job_id: str) -> dict[str, Any]:
        with self._lock:
            if job_id in self._jobs:
                if self._owners[job_id] != user.id:
                    raise NotFound(f"job {job_id!r} does not exist")
                return dict(self._jobs[job_id])
        kept = self._read(job_id)  # a job of an earlier server
        if kept is None or kept["owner"] != user.id:
            raise NotFound(f"job {job_id!r} does not exist")
        return kept["job"]

    def _run(self, job: dict[str, Any], path: Path, workspace: str | None,
             format: str | None) -> None:
        job["status"] = "running"
        self._keep(job)
        kept_at = [time.monotonic()]

        def progress(stage: str, done: int, total: int) -> None:
            job["progress"] = {**job["progress"], stage: [done, total]}
            if time.monotonic() - kept_at[0] >= _PROGRESS_EVERY_S:
                kept_at[0] = time.monotonic()
                self._keep(job)

        try:
            [result] = self.wb.imports.ingest([path], workspace, format, progress)
            job["result"] = {**result.to_dict(), "path": job["filename"]}
            job["error"] = result.error and result.error.replace(str(path), job["filename"])
            job["status"] = "done" if result.status == "done" else "failed"
        except WorkbenchError as exc:
            job["error"] = str(exc).replace(str(path), job["filename"])
            job["status"] = "failed"
        except Exception as exc:  # noqa: BLE001 - a job reports its failure, the server goes on
            job["error"] = f"the import failed: {type(exc).__name__}"
            job["status"] = "failed"
        finally:
            self._keep(job)
            shutil.rmtree(path.parent, ignore_errors=True)

    # -- the jobs' files ------------------------------------------------------------------------
    def _keep(self, job: dict[str, Any], owner: str | None = None) -> None:
        """Write the job's file whole, then move it into place: a reader never sees half."""
        make_private(self.folder)
        record = {"job": job, "owner": owner or self._owners[job["id"]], "pid": os.getpid()}
        target = self.folder / f"{job['id']}.json"
        temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(record, default=str), encoding="utf-8")
        os.replace(temporary, target)

    def _read(self, job_id: str) -> dict[str, Any] | None:
        try:
            if str(uuid.UUID(job_id)) != job_id:  # the id names a file: nothing else may
                return None
        except ValueError:
            return None
        try:
            return json.loads((self.folder / f"{job_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _settle(self) -> None:
        """Jobs left queued or running by a server that is gone: failed (an import is one
        transaction, so nothing of theirs was written), their uploads deleted."""
        for path in self.folder.glob("*.json") if self.folder.is_dir() else ():
            kept = self._read(path.stem)
            if kept is None or kept["job"]["status"] not in ("queued", "running") or \
                    _alive(kept.get("pid")):
                continue
            job = {**kept["job"], "status": "failed", "error": _STOPPED}
            self._keep(job, kept["owner"])
            shutil.rmtree(self.uploads / job["id"], ignore_errors=True)

    def index_soon(self) -> None:
        """Index what the store holds that the index lacks (messages added through the API),
        on the import worker, once for however many asked while it waited."""
        with self._lock:
            if self._index_queued:
                return
            self._index_queued = True
        self._worker.submit(self._index)

    def _index(self) -> None:
        with self._lock:
            self._index_queued = False
        try:
            self.wb.search.index_pending()
        except Exception:  # noqa: BLE001 - the next import or reindex picks them up
            log.exception("indexing added messages failed")

    def wait(self) -> None:
        """Return once every job and indexing queued so far is over."""
        self._worker.submit(lambda: None).result()

    def close(self) -> None:
        self._worker.shutdown(wait=True)


def _alive(pid: Any) -> bool:
    """Whether another process with this id runs (a server beside this one on the home)."""
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@router.post("/ingest", response_model=JobOut, status_code=202, tags=["ingest"])
@in_worker
def ingest(request: Request, wb: WB, who: Who, file: UploadFile,
           workspace: Annotated[str | None, Form()] = None,
           format: Annotated[str | None, Form(description="Skip detection")] = None):
    """Upload an export (multipart ``file``); it is imported in the background: poll
    ``GET /api/v1/jobs/{id}``. Larger than the upload limit: 413 before it is read."""
    space = wb.users.workspace(who.user, workspace)
    return request.app.state.jobs.submit(who.user, file, space, format)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["ingest"])
@in_worker
def job(job_id: str, request: Request, who: Who):
    """An import's progress, counts and warnings, or its one error."""
    return request.app.state.jobs.get(who.user, job_id)
