"""``workbench bench``: benchmarks that print a table and store their results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from workbench.cli.common import err, fail, out, settings, workbench

bench_app = typer.Typer(help="Benchmarks: print a table and store the results.")


@bench_app.command("ingest")
def bench_ingest(
    messages: int = typer.Option(20000, "--messages", help="Size of the generated export."),
    fixtures: Optional[Path] = typer.Option(None, "--fixtures", help="Folder of real exports."),
    pipeline_messages: int = typer.Option(
        2000, "--pipeline-messages", help="Size of the end-to-end run (0 to skip it)."
    ),
    backend: str = typer.Option("embedded", "--backend", help="Where the end-to-end run "
                                "imports: embedded, or postgres (WORKBENCH_DATABASE_URL)."),
) -> None:
    """Import throughput (messages/s): parse+store on fixtures and a generated export, then the
    whole pipeline (clean, chunk, embed, index) against the raw embedder on the same texts."""
    from workbench.bench.ingest import run_ingest_benchmark, run_pipeline_benchmark, save_results

    bench = workbench()
    if backend not in ("embedded", "postgres"):
        fail(f"unknown backend {backend!r}: embedded or postgres")
    if backend == "postgres" and not bench.settings.database_url:
        fail("the postgres backend needs WORKBENCH_DATABASE_URL=postgresql://...")
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
    rows = run_pipeline_benchmark(bench.settings, pipeline_messages, backend)
    table = Table(title=f"end-to-end ingest into {backend} ({bench.settings.chunker}, "
                        f"{bench.embedder.slug})")
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
    try:
        rows = run_embed_benchmark(config, texts)
    except ValueError as error:  # a model the bulk encoder cannot reproduce
        fail(str(error))
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
    retriever: Optional[str] = typer.Option(
        None, "--retriever", help="Default: the default one; several, comma separated, are "
        "measured on the same table."),
    backend: str = typer.Option("embedded", "--backend",
                                help="embedded, postgres (WORKBENCH_DATABASE_URL) or both."),
    data: str = typer.Option("composed", "--data", help="The rows' vectors: composed (each "
                             "the mean of its real sentences' embeddings) or copies (noisy "
                             "copies of 3,000 embedded texts, the data of earlier runs)."),
) -> None:
    """Hybrid query latency (query embedding included) and ANN recall vs exact search."""
    from workbench.bench.ingest import save_results
    from workbench.bench.search import VECTORS, run
    from workbench.search.mirror import IVF_FROM
    from workbench.search.retrieve import DEFAULT_RETRIEVER

    bench = workbench()
    name = retriever or DEFAULT_RETRIEVER
    backends = {"embedded": ("embedded",), "postgres": ("postgres",),
                "both": ("embedded", "postgres")}.get(backend)
    if backends is None:
        fail(f"unknown backend {backend!r}: embedded, postgres or both")
    if "postgres" in backends and not bench.settings.database_url:
        fail("the postgres backend needs WORKBENCH_DATABASE_URL=postgresql://...")
    if data not in VECTORS:
        fail(f"unknown data {data!r}: {' or '.join(VECTORS)}")
    rows = run(bench.embedder, [int(x) for x in sizes.split(",")], bench.settings.ann_threshold,
               name, bench.store, backends, err.print, bench.settings.home / "bench" / "cache",
               data)
    table = Table(title=f"search benchmark ({name}, {data} vectors, k=10, "
                        "200 distinct queries per row)")
    for column in ("messages", "retriever", "build s", "engine", "vectors", "ready s", "p50 ms",
                   "p95 ms", "named p50", "named p95", "embed ms", "ANN R@10", "bare"):
        table.add_column(column, justify="right")
    for row in rows:
        if row["engine"] == "mirror":
            engine, ready = "memory", f"{row['mirror_build_s']:.1f}"
            vectors = "faiss IVF" if row["messages"] >= IVF_FROM else "faiss scan"
        elif row["engine"] == "pgvector":
            engine, ready, vectors = "pgvector", "", "HNSW" if row["ann"] else "exact"
        else:
            engine, ready, vectors = "LanceDB", "", "IVF-HNSW-SQ" if row["ann"] else "exact"
        table.add_row(f"{row['messages']:,}", row["retriever"], f"{row['build_s']:.0f}", engine,
                      vectors, ready, f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}",
                      *(f"{row[f'named_{p}_ms']:.1f}" if f"named_{p}_ms" in row else "-"
                        for p in ("p50", "p95")),
                      f"{row['embed_p50_ms']:.1f}",
                      f"{row['ann_recall_at_10']:.3f}", f"{row['ann_recall_at_10_bare']:.3f}")
    out.print(table)
    _search_notes(out, rows)
    err.print(f"results stored in {save_results(bench.settings, 'search', rows)}")


def _search_notes(out, rows: list[dict]) -> None:
    """What the table's columns do not say: named questions, and pgvector's scopes."""
    for row in rows:
        if "named_second_pass" in row:
            out.print(f"{row['retriever']}, {row['engine']}: named questions are questions that "
                      f"name a participant; {100 * row['named_second_pass']:.0f}% of them took "
                      "the retriever's second pass without the name")
        if row["engine"] == "pgvector":
            out.print(f"pgvector, {row['messages']:,} messages, a 2 % workspace: recall@10 vs exact "
                      f"{row['narrow_recall_at_10']:.3f} with the scope guard, "
                      f"{row['narrow_recall_at_10_unguarded']:.3f} without (pgvector 0.6 alone); "
                      f"without a workspace: p50 {row['unscoped_p50_ms']:.1f}, p95 "
                      f"{row['unscoped_p95_ms']:.1f} ms")


@bench_app.command("server")
def bench_server(
    messages: int = typer.Option(100_000, "--messages", help="Size of the workspace."),
    searches: int = typer.Option(300, "--searches", help="Search requests per concurrency."),
    chats: int = typer.Option(16, "--chats", help="Chat completions per concurrency (at least "
                              "as many as clients)."),
    clients: str = typer.Option("1,8,32", "--clients", help="Concurrency levels, comma separated."),
    chat_clients: str = typer.Option("1,8,32", "--chat-clients", help="The same for chat "
                                     "completions (the embedded model answers one at a time)."),
    llm_base_url: Optional[str] = typer.Option(None, "--llm-base-url", help="Generate at this "
                                               "OpenAI-compatible endpoint instead of the "
                                               "embedded model (a scripted one measures the "
                                               "server alone)."),
) -> None:
    """`workbench api` in its own process under a bounded load from this one: requests/s and
    p50/p95/p99 of /api/v1/search and /v1/chat/completions, against in-process search."""
    from workbench.bench.ingest import save_results
    from workbench.bench.server import run

    config = settings()
    result = run(config, messages, searches, chats, tuple(int(c) for c in clients.split(",")),
                 tuple(int(c) for c in chat_clients.split(",")), llm_base_url)
    table = Table(title=f"server benchmark: {result['messages']:,} messages, loopback, LLM "
                        f"{result['llm']}; in-process "
                        f"search p50 {result['in_process_search_p50_ms']:.1f} ms, "
                        f"p95 {result['in_process_search_p95_ms']:.1f} ms")
    for column in ("route", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for row in result["rows"]:
        table.add_row(row["route"], str(row["clients"]), str(row["requests"]), f"{row['rps']:.1f}",
                      f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}", f"{row['p99_ms']:.1f}",
                      str(row["errors"]))
    out.print(table)
    err.print(f"results stored in {save_results(config, 'server', [result])}")


@bench_app.command("backup")
def bench_backup(
    messages: int = typer.Option(100_000, "--messages", help="Size of the generated home."),
    backend: str = typer.Option("embedded", "--backend", help="embedded, or postgres: new "
                                "databases on WORKBENCH_DATABASE_URL's server (CREATEDB)."),
) -> None:
    """The restore drill: build a home, back it up, verify the backup, restore it; times and
    sizes, and what re-deriving the index instead of copying it would cost."""
    from workbench.bench.backup import run
    from workbench.bench.ingest import save_results

    config = settings()
    row = run(config, messages, backend=backend)
    table = Table(title=f"restore drill ({backend}), {row['messages']:,} messages, "
                        f"{row['chunks']:,} chunks")
    table.add_column("what")
    table.add_column("measured", justify="right")
    mib = 1 << 20
    for name, value in (
        ("database", f"{row['database_bytes'] / mib:.0f} MiB"),
        ("index", f"{row['index_bytes'] / mib:.0f} MiB" if backend == "embedded"
         else "in the database"),
        ("backup", f"{row['backup_bytes'] / mib:.0f} MiB"),
        ("backup (database locked)", f"{row['backup_s']:.1f} s ({row['lock_s']:.2f} s)"),
        ("verify (restore to a temp home + compare)", f"{row['verify_s']:.1f} s"),
        ("restore", f"{row['restore_s']:.1f} s"),
        ("re-deriving the index instead (extrapolated)",
         f"{row['rederive_s_estimate'] / 60:.0f} min at {row['embed_per_s']:.0f} chunks/s"),
    ):
        table.add_row(name, value)
    out.print(table)
    err.print(f"results stored in {save_results(config, 'backup', [row])}")


@bench_app.command("migrate")
def bench_migrate(
    messages: int = typer.Option(100_000, "--messages", help="Size of the generated home."),
) -> None:
    """`workbench migrate` of a generated home into scratch schemas of WORKBENCH_DATABASE_URL:
    straight through, and killed -9 part-way then resumed; time, rows/s, every table verified."""
    from workbench.bench.ingest import save_results
    from workbench.bench.migrate import run_migrate_benchmark

    config = settings()
    if not config.database_url:
        fail("bench migrate needs WORKBENCH_DATABASE_URL=postgresql://... (a scratch schema "
             "of it is written and dropped)")
    result = run_migrate_benchmark(config, messages)
    runs = Table(title=f"workbench migrate, {messages:,} generated messages, into PostgreSQL")
    for column in ("run", "rows copied", "seconds", "rows/s", "tables same", "killed after"):
        runs.add_column(column, justify="left" if column == "run" else "right")
    for row in result["runs"]:
        killed = (f"{row['killed_after_s']:.1f} s, {row['tables_before_kill']} tables"
                  if "killed_after_s" in row else "")
        runs.add_row(row["run"], f"{row['rows_copied']:,}", f"{row['seconds']:.1f}",
                     f"{row['rows_per_s']:,.0f}", f"{row['tables_same']}/{row['tables']}", killed)
    out.print(runs)
    tables = Table(title="verification (counts and digests, home vs PostgreSQL)")
    for column in ("table", "rows", "straight", "resumed", "copied on resume", "same result"):
        tables.add_column(column, justify="left" if column == "table" else "right")
    for row in result["tables"]:
        tables.add_row(row["table"], f"{row['rows']:,}", *("yes" if row[k] else "[red]NO[/red]"
                       for k in ("straight_same", "resumed_same")),
                       "yes" if row["resumed_copied_again"] else "earlier",
                       "yes" if row["same_result"] else "[red]NO[/red]")
    out.print(tables)
    err.print(f"results stored in {save_results(config, 'migrate', [result])}")


@bench_app.command("hostile")
def bench_hostile(
    export_mb: float = typer.Option(200, "--export-mb", help="Size of the generated ChatGPT "
                                    "export (MB)."),
    bomb_mib: int = typer.Option(1024, "--bomb-mib", help="What the zip of zeros inflates to."),
    folder: Optional[Path] = typer.Option(
        None, "--folder", help="Where the files and homes go (default: a temporary folder; it "
        "needs about 4 × the export plus the inflated zip)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Hostile and huge input, each imported by `workbench ingest` in its own process into a
    fresh home (indexing off): exit status, error line, time and peak RSS per case."""
    import tempfile

    from workbench.bench.hostile import run_hostile_benchmark
    from workbench.bench.ingest import save_results
    from workbench.cli.common import emit_json

    config = settings()
    with tempfile.TemporaryDirectory(dir=folder, prefix="workbench-hostile-") as tmp:
        rows = run_hostile_benchmark(Path(tmp), int(export_mb * 1e6), bomb_mib << 20)
    saved = save_results(config, "hostile", rows)
    if as_json:
        emit_json(rows)
    else:
        table = Table(title="hostile input: `workbench ingest` per case (indexing off)")
        for column in ("case", "rc", "error line", "s", "peak RSS MB"):
            table.add_column(column, justify="right" if column in {"rc", "s", "peak RSS MB"}
                             else "left", overflow="fold")
        for row in rows:
            line = row["error"] + (" + TRACEBACK" if row["traceback"] else "")
            table.add_row(row["case"], str(row["rc"]), line, f"{row['seconds']:.1f}",
                          f"{row['peak_rss_mb']:,.0f}")
        out.print(table)
    err.print(f"results stored in {saved}")


@bench_app.command("compare")
def bench_compare(
    base: str = typer.Option("71f5ba3", "--base", help="The revision to compare this tree with."),
    head: Optional[str] = typer.Option(None, "--head", help="A revision to measure instead of "
                                       "this tree (exported, so the tree may change meanwhile)."),
    steps: str = typer.Option(",".join(("locomo", "ingest", "chat", "search")), "--steps",
                              help="Comma separated: locomo, ingest, chat, search."),
    sizes: str = typer.Option("100000,1000000", "--sizes", help="Search sizes, comma separated."),
    chat_messages: int = typer.Option(100_000, "--chat-messages", help="Size of the chat's "
                                      "workspace."),
) -> None:
    """The headline figures of BASE and of this tree, measured in the same run: LoCoMo dev
    R@5/R@10, ingest's ratio to the raw embedder, chat overhead p95 (6 s pauses), search p95
    and ANN recall per size."""
    import json
    from datetime import datetime, timezone

    from workbench.bench import compare

    chosen = [s.strip() for s in steps.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(compare.STEPS))
    if unknown:
        fail(f"unknown steps {', '.join(unknown)}: {', '.join(compare.STEPS)}")
    folder = settings().home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"compare-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"

    def save(result: compare.Comparison) -> Path:
        path.write_text(json.dumps(result.to_dict(), indent=2))
        return path

    fixtures = compare.HEAD_ROOT / "tests" / "fixtures"
    result = compare.run(base, head, chosen, [int(x) for x in sizes.split(",")],
                         fixtures / "locomo_dev.json", fixtures, chat_messages, save,
                         lambda line: err.print(line, markup=False, highlight=False))
    table = Table(title=f"before ({result.base}) and after ({result.head}), same run")
    for column in ("metric", "before", "after", "change", "s before", "s after"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in result.rows:
        before, after = row["base"], row["head"]
        change = "" if not before or after is None else f"{100 * (after / before - 1):+.1f}%"
        table.add_row(row["metric"], "-" if before is None else f"{before:.3f}",
                      "-" if after is None else f"{after:.3f}", change,
                      *("-" if row[side] is None else f"{row[side]:.0f}"
                        for side in ("base_s", "head_s")))
    out.print(table)
    for line in result.load:
        err.print(line, markup=False)
    err.print(f"results stored in {path}")


@bench_app.command("encryption")
def bench_encryption(
    fixtures: Path = typer.Option(Path("tests/fixtures"), "--fixtures",
                                  help="Folder of real exports."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Rounds of the search queries."),
    turns: int = typer.Option(5, "--turns", min=1, help="Chat turns per home."),
) -> None:
    """Encrypted vs plain home in one run: import time, search p50/p95, chat-turn overhead
    (no LLM). Needs gocryptfs; uses WORKBENCH_ENCRYPTION_KEY or a random key."""
    import os

    from workbench.bench.encryption import run
    from workbench.bench.ingest import save_results

    config = settings()
    rows = run(config, fixtures, rounds, turns)
    table = Table(title=f"encryption cost ({rows[0]['files']} exports; load average "
                        f"{os.getloadavg()[0]:.1f})")
    for column in ("home", "import s", "search p50 ms", "search p95 ms", "turn p50 ms",
                   "turn p95 ms"):
        table.add_column(column, justify="left" if column == "home" else "right")
    for row in rows:
        table.add_row(row["mode"], f"{row['import_s']:.2f}", f"{row['search_p50_ms']:.1f}",
                      f"{row['search_p95_ms']:.1f}", f"{row['turn_p50_ms']:.1f}",
                      f"{row['turn_p95_ms']:.1f}")
    out.print(table)
    err.print(f"results stored in {save_results(config, 'encryption', rows)}")
