"""Import page: upload chat exports, import them into a workspace, see what each file changed."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from workbench.api import Workbench
from workbench.importers import FORMATS
from workbench.records import ImportResult, User
from workbench.ui.common import options

RESULTS = "import_results"
UPLOADS = "import_uploads"  # a new uploader (empty) after each import
STAGES = {"parse": "reading", "clean": "cleaning", "write": "writing", "embed": "embedding",
          "index": "updating the search index"}


def render(wb: Workbench, workspace: str, user: User | None = None) -> None:
    """``user``: the signed-in user, who imports into their own workspaces only."""
    st.title("Import")
    files = st.file_uploader(
        "Chat exports (ChatGPT, Claude, Open WebUI, ShareGPT, LoCoMo, legacy SQLite, JSONL/CSV)",
        type=["json", "zip", "db", "jsonl", "csv"], accept_multiple_files=True,
        key=f"import_files_{st.session_state.get(UPLOADS, 0)}", on_change=_clear)
    left, right = st.columns(2)
    target = left.text_input("Workspace", value=workspace, key="import_workspace",
                             help="A new name creates a new workspace")
    fmt = right.selectbox("Format", ["auto", *FORMATS], key="import_format",
                          format_func=lambda f: "detect from content" if f == "auto"
                          else f"{f}: {FORMATS[f].description}")
    redact = options(wb)["redact"]
    st.caption(f"PII redaction is {'on' if redact else 'off'} (Settings page). Importing a file "
               "again adds only what is new.")
    if st.button("Import", type="primary", disabled=not files):
        _clear()
        chosen = target.strip() or workspace
        if user is not None:
            chosen = wb.users.workspace(user, chosen)  # another's: "does not exist"
        st.session_state[RESULTS] = _ingest(
            wb, files, chosen, None if fmt == "auto" else fmt, redact)
        st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1
        # Drawn again: the sidebar lists a workspace this import made, the uploader is empty.
        st.rerun()
    if st.session_state.get(RESULTS):
        _report(st.session_state[RESULTS])


def _clear() -> None:
    """A new import starts: the last one's report goes."""
    st.session_state.pop(RESULTS, None)


def _ingest(wb: Workbench, files: list, workspace: str, fmt: str | None,
            redact: bool) -> list[dict[str, Any]]:
    bar = st.progress(0.0, text="Starting…")
    seen = {"files": 0}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "parse" and done == 0:
            seen["files"] += 1
        fraction = done / total if total else 0.0
        if stage in ("embed", "index"):
            share, text = 0.7 + 0.3 * fraction, STAGES[stage]
        else:
            share = 0.7 * (seen["files"] - 1 + fraction) / len(files)
            text = f"file {seen['files']} of {len(files)}: {STAGES.get(stage, stage)}"
        bar.progress(min(max(share, 0.0), 1.0), text=f"{text} ({done}/{total})")

    # Each upload in its own folder: importers and error lines name the file as it was uploaded.
    # An encrypted home's uploads stay inside its mount: the system's temp folder is plain disk.
    with tempfile.TemporaryDirectory(prefix="workbench-upload-", dir=wb.imports.scratch) as tmp:
        paths = []
        for n, upload in enumerate(files):
            path = Path(tmp) / str(n) / Path(upload.name).name
            path.parent.mkdir()
            path.write_bytes(upload.getvalue())
            paths.append(path)
        results = wb.imports.ingest(paths, workspace, fmt, progress, redact=redact)
    bar.progress(1.0, text="Done")
    return [_row(upload.name, path, result) for upload, path, result in zip(files, paths, results)]


def _row(name: str, path: Path, result: ImportResult) -> dict[str, Any]:
    """The file's summary, naming it as uploaded (messages name the temporary copy)."""
    def named(text: str) -> str:
        return text.replace(str(path), name)

    return {
        "file": name, "status": result.status, "format": result.format,
        "conversations added": result.conversations_added,
        "conversations updated": result.conversations_updated,
        "conversations skipped": result.conversations_skipped,
        "messages added": result.messages_added, "messages skipped": result.messages_skipped,
        "warnings": [named(w) for w in result.warnings], "seconds": round(result.seconds, 2),
        "error": named(result.error) if result.error else None,
    }


def _report(rows: list[dict[str, Any]]) -> None:
    done = [r for r in rows if r["status"] == "done"]
    if done:
        st.success(f"Imported {len(done)} of {len(rows)} files: "
                   f"{sum(r['conversations added'] for r in done)} conversations and "
                   f"{sum(r['messages added'] for r in done)} messages added.")
    table = [{"file": r["file"], "status": r["status"], "format": r["format"],
              "conversations": f"{r['conversations added']} new, "
                               f"{r['conversations updated']} updated, "
                               f"{r['conversations skipped']} unchanged",
              "messages": f"{r['messages added']} new, {r['messages skipped']} unchanged",
              "warnings": len(r["warnings"]), "seconds": r["seconds"]} for r in rows]
    # Every row and column in view: a table this size needs no scrolling.
    st.table(table, hide_index=True)
    for r in rows:
        if r["status"] != "done":
            st.error(r["error"] or f"{r['file']}: not imported ({r['status']})")
        elif r["warnings"]:
            with st.expander(f"{r['file']}: {len(r['warnings'])} warnings"):
                st.markdown("\n".join(f"- {w}" for w in r["warnings"][:200]))
