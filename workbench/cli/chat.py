"""``workbench chat | serve``: a turn from the command line, and the app with its LLM."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from workbench.cli.common import emit_json, err, fail, out, workbench


def chat(
    message: str = typer.Argument(..., help="Your message."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    conversation: Optional[str] = typer.Option(None, "--conversation", "-c",
                                               help="Continue this conversation."),
    retry: bool = typer.Option(False, "--retry", help="Answer the conversation's last question."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ask with memory: the answer cites past messages; the turn is stored and indexed."""
    from workbench.errors import EmptyMessage

    bench = workbench(search_mirror=False)  # one turn: see `search`
    engine = bench.chat
    try:
        if retry:
            if not conversation:
                fail("--retry needs --conversation")
            turn = engine.retry(conversation)
        else:
            turn = engine.start(message, workspace, conversation)
            # The shown answer is known once the model's is grounded: it is printed whole.
            with err.status("thinking…", spinner="dots") if not as_json else _quiet():
                for _ in engine.stream(turn):
                    pass
    except EmptyMessage as exc:
        fail(str(exc))
    bench.chat.wait_for_indexing()  # the process ends here: let the new turns reach the index
    if as_json:
        emit_json(turn.to_dict())
    else:
        _print_answer(turn)
        err.print(f"conversation {turn.conversation_id}", highlight=False)
    if turn.error:
        err.print(f"error: {turn.error}", markup=False, highlight=False)
        raise typer.Exit(2)


@contextmanager
def _quiet():
    yield


def _print_answer(turn) -> None:
    """The answer, a note when it was cut off, then every memory labelled by how it was used:
    cited (the model cited it and it holds the sentence), attributed (the check found the
    sentence in it) or retrieved (found, not used)."""
    if turn.text:
        out.print(turn.text, markup=False, highlight=False, soft_wrap=True)
    if turn.note:
        out.print(f"\n({turn.note})", markup=False, highlight=False)
    kinds = {c["n"]: c.get("kind", "written") for c in turn.citations}
    if not turn.hits:
        return
    out.print("\nSources", highlight=False)
    order = sorted(range(1, len(turn.hits) + 1), key=lambda n: (n not in kinds, n))
    for n in order:
        hit = turn.hits[n - 1]
        label = {"written": "cited", "attributed": "attributed"}.get(kinds.get(n, ""), "retrieved")
        when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
        out.print(f"  {label:<10} [{n}] {when} · {hit.title or '(untitled)'} · "
                  f"{hit.speaker or hit.role}: {' '.join(hit.text.split())[:120]}",
                  markup=False, highlight=False, soft_wrap=True)


def serve(
    port: int = typer.Option(8501, "--port"),
    app_file: Path = typer.Option(Path("app_streamlit.py"), "--app", help="The Streamlit entry point."),
    address: str = typer.Option(
        "127.0.0.1", "--address",
        help="Where the app listens (0.0.0.0 inside a container; the LLM stays on 127.0.0.1)."),
) -> None:
    """The embedded LLM (when no endpoint is configured) and the app, on 127.0.0.1 by default."""
    import os
    import subprocess

    bench = workbench()
    env = dict(os.environ)
    if not bench.settings.llm_base_url:
        client = bench.chat.llm()
        ok, detail = client.health()
        err.print(f"LLM: {detail if ok else 'not answering: ' + detail}", markup=False)
        # Not as the configured endpoint: the app would show its random port as the user's.
        env["WORKBENCH_LLM_EMBEDDED_URL"] = client.endpoint
    env["WORKBENCH_HOME"] = str(bench.settings.home.resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.headless", "true",
               "--server.address", address, "--server.port", str(port),
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    err.print(f"app: http://{address}:{port}  (Ctrl-C to stop)")
    try:
        subprocess.run(command, env=env, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        bench.close()  # stops the embedded LLM
