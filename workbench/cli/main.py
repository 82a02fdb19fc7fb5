"""Command line: ``workbench ingest | search | chat | stats | conversations | bench | eval``.

A thin layer over ``Workbench``: parse options, call the API, print. Commands, options and JSON
fields are a contract with scripts outside this repository: add, never rename.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from workbench.cli.common import (
    Commands,
    _progress_printer,
    _state,
    emit_json,
    err,
    fail,
    out,
    settings,
    workbench,
)
from workbench.cli.evaluation import eval_app
from workbench.cli.schedule import schedule_app  # also registers `eval notebooks` on eval_app
from workbench.process import configure_process
from workbench.text.timeparse import parse_time_range

app = typer.Typer(cls=Commands, help="Conversation-memory workbench.", no_args_is_help=True)
conversations_app = typer.Typer(help="List, read, export, rename and delete conversations.")
bench_app = typer.Typer(help="Benchmarks: print a table and store the results.")
app.add_typer(conversations_app, name="conversations")
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")
app.add_typer(schedule_app, name="schedule")



@app.callback()
def main(
    home: Optional[Path] = typer.Option(
        None, "--home", help="Workbench home (default: $WORKBENCH_HOME or data/workbench)."
    ),
) -> None:
    configure_process()
    _state["home"] = home


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Export files: json, jsonl, csv, zip, SQLite."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w", help="Target workspace."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Skip detection."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Import exports into the store: each file whole or not at all, re-imports add nothing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bench = workbench()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        results = bench.ingest(paths, workspace, format, progress)
    rejected = [r for r in results if r.status != "done"]
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        _print_import_summary([r for r in results if r.status == "done"])
    for result in rejected:
        err.print(f"error: {result.error}", markup=False, highlight=False, soft_wrap=True)
    if rejected:
        raise typer.Exit(1)


def _print_import_summary(results: list) -> None:
    if not results:
        return
    table = Table(title="import")
    table.caption = "+ added  ~ updated  = already present"
    table.add_column("file", overflow="fold")
    table.add_column("format")
    for column in ("conv +", "conv ~", "msgs +", "msgs =", "warn", "sec"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            Path(r.path).name, r.format, str(r.conversations_added), str(r.conversations_updated),
            str(r.messages_added), str(r.messages_skipped), str(len(r.warnings)), f"{r.seconds:.2f}",
        )
    out.print(table)
    for r in results:
        for warning in r.warnings[:20]:
            err.print(f"warning: {Path(r.path).name}: {warning}", markup=False, highlight=False)
        if len(r.warnings) > 20:
            err.print(f"warning: {Path(r.path).name}: … and {len(r.warnings) - 20} more")


def _moment(value: Optional[str], end: bool) -> Optional[datetime]:
    """An ISO date/time or a phrase ("last March"); a bare date as --until includes that day."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if end and len(value) <= 10:
            moment += timedelta(days=1)
        return moment
    except ValueError:
        found = parse_time_range(value, datetime.now(timezone.utc))
        if found is None:
            fail(f"cannot read the date {value!r} (use YYYY-MM-DD or a phrase like 'last March')")
        return found.until if end else found.since


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="What to look for."),
    queries: Optional[Path] = typer.Option(
        None, "--queries", help='JSONL batch: {"id", "query", "workspace"} per line.'
    ),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    k: int = typer.Option(10, "--k", "-k", min=1, max=1000),
    since: Optional[str] = typer.Option(None, "--since", help="YYYY-MM-DD or a phrase."),
    until: Optional[str] = typer.Option(None, "--until", help="YYYY-MM-DD (inclusive) or a phrase."),
    role: Optional[str] = typer.Option(None, "--role"),
    conversation: Optional[str] = typer.Option(None, "--conversation"),
    retriever: Optional[str] = typer.Option(None, "--retriever"),
    chunker: Optional[str] = typer.Option(None, "--chunker"),
    neighbours: int = typer.Option(0, "--neighbours", help="Turns of context around each hit."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hybrid search over the history: message-level hits with where they came from."""
    if (query is None) == (queries is None):
        fail("give a QUERY or --queries FILE.jsonl")
    # One query is over before an in-memory copy of the index could be built for it.
    bench = workbench(search_mirror=queries is not None)
    options = dict(k=k, since=_moment(since, False), until=_moment(until, True), role=role,
                   conversation=conversation, retriever=retriever, chunker=chunker,
                   neighbours=neighbours)
    if queries is not None:
        for number, item in enumerate(_read_queries(queries), start=1):
            result = bench.search(item["query"], item.get("workspace") or workspace, **options)
            sys.stdout.write(json.dumps(
                {"id": item.get("id", number), "hits": [h.to_dict() for h in result.hits]},
                ensure_ascii=False, default=str) + "\n")
        return
    result = bench.search(query, workspace, **options)
    if as_json:
        emit_json({
            "query": result.query, "since": result.since, "until": result.until,
            "time_phrase": result.time_phrase, "timings_ms": result.timings_ms,
            "hits": [h.to_dict() for h in result.hits],
        })
        return
    if result.time_phrase:
        err.print(f"time: {result.time_phrase!r} → {result.since} … {result.until}", markup=False)
    for rank, hit in enumerate(result.hits, start=1):
        when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
        out.print(f"[b]{rank}.[/b] {hit.title or '(untitled)'} · {when} · "
                  f"{hit.speaker or hit.role} · {hit.score:.3f}  [dim]{hit.message_id[:8]}[/dim]")
        out.print("   " + hit.text[:300].replace("\n", " "), markup=False, highlight=False)


def _read_queries(path: Path) -> list[dict]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}: line {number}: invalid JSON ({exc.msg})")
        if not isinstance(item, dict) or not str(item.get("query", "")).strip():
            fail(f"{path}: line {number}: needs a non-empty \"query\"")
        items.append(item)
    return items


@app.command()
def chat(
    message: str = typer.Argument(..., help="Your message."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    conversation: Optional[str] = typer.Option(None, "--conversation", "-c",
                                               help="Continue this conversation."),
    retry: bool = typer.Option(False, "--retry", help="Answer the conversation's last question."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ask with memory: the answer cites past messages; the turn is stored and indexed."""
    from workbench.chat.turn import wait_for_indexing

    bench = workbench(search_mirror=False)  # one turn: see `search`
    engine = bench.chat()
    if retry:
        if not conversation:
            fail("--retry needs --conversation")
        turn = engine.retry(conversation)
    else:
        turn = engine.start(message, workspace, conversation)
        if not as_json:
            for delta in engine.stream(turn):
                out.print(delta, end="", markup=False, highlight=False, soft_wrap=True)
            out.print()
        else:
            for _ in engine.stream(turn):
                pass
    wait_for_indexing()  # the process ends here: let the new turns reach the index
    if as_json:
        emit_json(turn.to_dict())
    else:
        for n, hit in enumerate(turn.hits, start=1):
            when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
            err.print(f"[{n}] {when} · {hit.title or '(untitled)'} · {hit.speaker or hit.role}: "
                      f"{' '.join(hit.text.split())[:120]}", markup=False, highlight=False)
        err.print(f"conversation {turn.conversation_id}", highlight=False)
    if turn.error:
        err.print(f"error: {turn.error}", markup=False, highlight=False)
        raise typer.Exit(2)


@app.command()
def serve(
    port: int = typer.Option(8501, "--port"),
    app_file: Path = typer.Option(Path("app_streamlit.py"), "--app", help="The Streamlit entry point."),
) -> None:
    """The embedded LLM (when no endpoint is configured) and the app, on 127.0.0.1 only."""
    import os
    import subprocess

    from workbench.chat.llm import ensure_llm, shutdown_embedded

    bench = workbench()
    env = dict(os.environ)
    if not bench.settings.llm_base_url:
        client, server = ensure_llm(bench.settings, bench.settings.home)
        ok, detail = client.health()
        err.print(f"LLM: {detail if ok else 'not answering: ' + detail}", markup=False)
        env["WORKBENCH_LLM_BASE_URL"] = client.endpoint
        env["WORKBENCH_LLM_MODEL"] = client.model
    env["WORKBENCH_HOME"] = str(bench.settings.home.resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port),
               "--browser.gatherUsageStats", "false"]
    err.print(f"app: http://127.0.0.1:{port}  (Ctrl-C to stop)")
    try:
        subprocess.run(command, env=env, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown_embedded()


@app.command()
def reindex(
    chunker: Optional[str] = typer.Option(None, "--chunker"),
) -> None:
    """Drop the derived LanceDB index and rebuild it from DuckDB."""
    report = workbench().reindex(chunker, progress=_progress_printer())
    out.print(f"indexed {report.chunks_embedded} chunks in {report.seconds:.1f} s")


@app.command()
def stats(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts of workspaces, conversations, messages and imports."""
    result = workbench().stats(workspace)
    if as_json:
        emit_json(result)
        return
    table = Table(title="workbench")
    for column in ("workspace", "conversations", "messages"):
        table.add_column(column, justify="left" if column == "workspace" else "right")
    for space in result["per_workspace"]:
        table.add_row(space["name"], str(space["conversations"]), str(space["messages"]))
    table.add_row("[b]total[/b]", str(result["conversations"]), str(result["messages"]))
    out.print(table)


@conversations_app.command("list")
def conversations_list(
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    title: Optional[str] = typer.Option(None, "--filter", help="Only titles containing this."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Conversations, newest first."""
    items = workbench().conversations(workspace, title, limit)
    if as_json:
        emit_json([c.to_dict() for c in items])
        return
    table = Table()
    for column in ("id", "workspace", "title", "source", "messages", "created"):
        table.add_column(column)
    for c in items:
        created = c.created_at.strftime("%Y-%m-%d %H:%M") if c.created_at else ""
        table.add_row(c.id[:8], c.workspace, c.title or "(untitled)", c.source_format,
                      str(c.message_count), created)
    out.print(table)


@conversations_app.command("show")
def conversations_show(
    conversation: str = typer.Argument(..., help="Conversation id (or a unique prefix)."),
    all_branches: bool = typer.Option(False, "--all", help="Include inactive branches."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print a conversation's messages (active branch unless --all)."""
    bench = workbench()
    item = bench.conversation(conversation)
    messages = bench.messages(item.id, active_only=not all_branches)
    if as_json:
        payload = item.to_dict()
        payload["messages"] = [m.to_dict() for m in messages]
        emit_json(payload)
        return
    out.print(f"[b]{item.title or '(untitled)'}[/b]  {item.id}  ({item.workspace})")
    for m in messages:
        when = m.created_at.strftime("%Y-%m-%d %H:%M") if m.created_at else ""
        mark = "" if m.on_active_branch else " [dim](inactive)[/dim]"
        out.print(f"\n[cyan]{m.speaker or m.role}[/cyan] {when}{mark}")
        out.print(m.content, markup=False, highlight=False)


@conversations_app.command("export")
def conversations_export(
    conversation: str = typer.Argument(...),
    fmt: str = typer.Option("md", "--format", "-f", help="md or json"),
    output: Optional[Path] = typer.Option(None, "--output", "-o"),
) -> None:
    """Export a conversation as Markdown or JSON."""
    text = workbench().export_conversation(conversation, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@conversations_app.command("rename")
def conversations_rename(conversation: str, title: str) -> None:
    """Give a conversation a new title."""
    item = workbench().rename_conversation(conversation, title)
    out.print(f"renamed {item.id} to {item.title!r}", markup=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a conversation and its messages."""
    bench = workbench()
    item = bench.conversation(conversation)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {item.title or item.id} and its messages?", abort=True)
    removed = bench.delete_conversation(item.id)
    out.print(f"deleted {item.id} ({removed} messages)", markup=False)


@bench_app.command("ingest")
def bench_ingest(
    messages: int = typer.Option(20000, "--messages", help="Size of the generated export."),
    fixtures: Optional[Path] = typer.Option(None, "--fixtures", help="Folder of real exports."),
    pipeline_messages: int = typer.Option(
        2000, "--pipeline-messages", help="Size of the end-to-end run (0 to skip it)."
    ),
) -> None:
    """Import throughput (messages/s): parse+store on fixtures and a generated export, then the
    whole pipeline (clean, chunk, embed, index) against the raw embedder on the same texts."""
    from workbench.bench.ingest import run_ingest_benchmark, run_pipeline_benchmark, save_results

    bench = workbench()
    rows, saved = run_ingest_benchmark(bench.settings, messages, fixtures)
    table = Table(title="import benchmark (parse → clean → store)")
    for column in ("dataset", "format", "messages", "seconds", "messages/s"):
        table.add_column(column, justify="left" if column in {"dataset", "format"} else "right")
    for row in rows:
        table.add_row(row["dataset"], row["format"], str(row["messages"]), f"{row['seconds']:.3f}",
                      f"{row['messages_per_s']:,.0f}")
    out.print(table)
    err.print(f"results stored in {saved}")
    if pipeline_messages <= 0:
        return
    rows = run_pipeline_benchmark(bench.settings, pipeline_messages)
    table = Table(title=f"end-to-end ingest ({bench.settings.chunker}, {bench.embedder.slug})")
    for column in ("run", "messages", "chunks", "seconds", "messages/s", "vs raw"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for row in rows:
        table.add_row(row["run"], str(row["messages"]), str(row["chunks"]), f"{row['seconds']:.1f}",
                      f"{row['messages_per_s']:.1f}", f"{100 * row['ratio_to_raw']:.0f}%")
    out.print(table)
    err.print(f"results stored in {save_results(bench.settings, 'pipeline', rows)}")


@bench_app.command("embed")
def bench_embed(
    texts: int = typer.Option(2000, "--texts", help="Messages to embed (200000 on a GPU)."),
) -> None:
    """Raw embedding throughput on this machine's device: sentence-transformers' encode
    against the bulk encoder, on the same texts."""
    from workbench.bench.ingest import run_embed_benchmark, save_results
    from workbench.embeddings.model import model_slug

    config = settings()  # no stores: this command also runs where only torch is installed
    rows = run_embed_benchmark(config, texts)
    table = Table(title=f"embedding benchmark ({model_slug(config.embedding_model)}, "
                        f"{rows[0]['device']})")
    for column in ("encoder", "texts", "seconds", "texts/s", "vs encode", "min cosine"):
        table.add_column(column, justify="left" if column == "encoder" else "right")
    for row in rows:
        table.add_row(row["encoder"], f"{row['texts']:,}", f"{row['seconds']:.2f}",
                      f"{row['texts_per_s']:,.0f}", f"{row['ratio_to_encode']:.2f}×",
                      "–" if row["min_cosine_to_encode"] is None
                      else f"{row['min_cosine_to_encode']:.5f}")
    out.print(table)
    err.print(f"results stored in {save_results(config, 'embed', rows)}")


@bench_app.command("chat")
def bench_chat(
    messages: int = typer.Option(100_000, "--messages", help="Size of the workspace."),
    turns: int = typer.Option(30, "--turns"),
    pause: float = typer.Option(
        0.0, "--pause", help="Seconds of a reader's pause after each answer (compaction runs "
        "in pauses of 5 s and more)."),
) -> None:
    """Chat overhead (all but the LLM's generation) with a large workspace; TTFT reported.

    "waits" is what a turn waits for before and after the model; "with indexing" adds the
    indexing of the turn's messages, which ends after the answer is stored; "compaction" folds
    the turns' appends into the indexes once the chat pauses."""
    from workbench.bench.ingest import save_results
    from workbench.bench.chat import run

    bench = workbench()
    row = run(bench.settings, messages, turns, pause)
    table = Table(title=f"chat benchmark: {row['messages']:,} messages, {row['turns']} turns, "
                        f"{pause:g} s pauses, {row['model']}")
    for column in ("ms", "p50", "p95"):
        table.add_column(column, justify="left" if column == "ms" else "right")
    for label, name in (("turn waits", "overhead"), ("turn with indexing", "with_indexing"),
                        ("  indexing after the answer", "indexing"),
                        ("  retrieval", "retrieval"),
                        ("question's chunk embedded while the model writes", "embed_question"),
                        ("time to first token", "ttft")):
        table.add_row(label, f"{row[f'{name}_p50_ms']:.0f}", f"{row[f'{name}_p95_ms']:.0f}")
    compaction = row["compaction_ms"]
    table.add_row("compaction, in a pause", "-" if compaction is None else f"{compaction:.0f}", "")
    out.print(table)
    err.print(f"results stored in {save_results(bench.settings, 'chat', [row])}")


@bench_app.command("search")
def bench_search(
    sizes: str = typer.Option("10000,100000", "--sizes", help="Messages, comma separated (1000000 too)."),
) -> None:
    """Hybrid query latency (query embedding included) and ANN recall vs exact search."""
    from workbench.bench.ingest import save_results
    from workbench.bench.search import run
    from workbench.search.mirror import IVF_FROM
    from workbench.search.retrieve import DEFAULT_RETRIEVER

    bench = workbench()
    rows = run(bench.embedder, [int(x) for x in sizes.split(",")], bench.settings.ann_threshold)
    table = Table(
        title=f"search benchmark ({DEFAULT_RETRIEVER}, k=10, 200 distinct queries per row)")
    for column in ("messages", "build s", "engine", "vectors", "ready s", "p50 ms", "p95 ms",
                   "embed ms", "ANN R@10", "bare"):
        table.add_column(column, justify="right")
    for row in rows:
        if row["engine"] == "mirror":
            engine, ready = "memory", f"{row['mirror_build_s']:.1f}"
            vectors = "faiss IVF" if row["messages"] >= IVF_FROM else "faiss scan"
        else:
            engine, ready, vectors = "LanceDB", "", "IVF-HNSW-SQ" if row["ann"] else "exact"
        table.add_row(f"{row['messages']:,}", f"{row['build_s']:.0f}", engine, vectors, ready,
                      f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}", f"{row['embed_p50_ms']:.1f}",
                      f"{row['ann_recall_at_10']:.3f}", f"{row['ann_recall_at_10_bare']:.3f}")
    out.print(table)
    err.print(f"results stored in {save_results(bench.settings, 'search', rows)}")


if __name__ == "__main__":
    app()
