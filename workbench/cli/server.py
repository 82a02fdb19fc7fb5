"""``workbench api`` and ``workbench users``: the HTTP server and its accounts."""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import List, Optional

import typer

from workbench.cli.common import emit_json, err, fail, out, workbench

users_app = typer.Typer(help="Accounts of the HTTP server (workbench api).", no_args_is_help=True)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def api(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port"),
    no_auth: bool = typer.Option(False, "--no-auth", help="Every request is the local user's "
                                 "(every workspace); only on a loopback address."),
) -> None:
    """The REST API (/api/v1, docs at /docs), the OpenAI-compatible model with memory (/v1)."""
    import uvicorn

    from workbench.server.app import create_app

    if no_auth and not _loopback(host):
        fail(f"--no-auth only on a loopback address (127.0.0.1, ::1), not {host}")
    # A long-lived process keeps DuckDB open between requests; another workbench process that
    # asks for it (a CLI import) still gets it within 50 ms.
    linger = {} if "WORKBENCH_STORE_LINGER_S" in os.environ else {"store_linger_s": 2.0}
    bench = workbench(**linger)
    if not no_auth and not bench.users.any():
        fail("this home has no users: add one with 'workbench users add NAME' "
             "(or start with --no-auth on 127.0.0.1)")
    app = create_app(bench, auth=not no_auth)
    bench.search.prepare()
    err.print(f"api: http://{host}:{port}/docs  (Ctrl-C to stop)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add(
    name: str = typer.Argument(...),
    workspace: Optional[List[str]] = typer.Option(None, "--workspace", "-w",
                                                  help="Workspaces the user owns (repeat); "
                                                  "default: one named after the user."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password "
                                        "from the first line of standard input."),
) -> None:
    """Add a user (the password is asked for, or read with --password-stdin)."""
    user = workbench().users.add(name, _password(password_stdin), workspace or None)
    out.print(f"user {user.name} added (workspaces: {', '.join(user.workspaces or [])})",
              highlight=False)


@users_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every user, with their workspaces and whether they are disabled."""
    users = workbench().users.list()
    if as_json:
        emit_json([u.to_dict() for u in users])
        return
    for user in users:
        state = "disabled" if user.disabled else "active"
        out.print(f"{user.name}\t{state}\t{','.join(user.workspaces or [])}", highlight=False)


@users_app.command("disable")
def disable(name: str = typer.Argument(...),
            enable: bool = typer.Option(False, "--enable", help="Enable the user again.")) -> None:
    """Refuse the user's logins, tokens and API keys from now on (or --enable them again)."""
    user = workbench().users.disable(name, not enable)
    out.print(f"user {user.name} {'disabled' if user.disabled else 'enabled'}", highlight=False)


@users_app.command("reset")
def reset(name: str = typer.Argument(...),
          password_stdin: bool = typer.Option(False, "--password-stdin")) -> None:
    """Set a new password."""
    user = workbench().users.reset(name, _password(password_stdin))
    out.print(f"password of {user.name} reset", highlight=False)


@users_app.command("key")
def key(name: str = typer.Argument(..., help="The user."),
        key_name: str = typer.Option("default", "--name", help="What the key is for.")) -> None:
    """Make an API key for the user (printed once: store it now)."""
    bench = workbench()
    secret, record = bench.users.create_key(bench.users.get(name), key_name)
    err.print(f"API key {record.name!r} for {name} (shown once):", highlight=False)
    out.print(secret, highlight=False)


def mcp(
    user: Optional[str] = typer.Option(None, "--user", help="Act as this user (their "
                                       "workspaces only); default: the local user, every workspace."),
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at /mcp instead of "
                              "stdio; every request signs in with an API key (as the REST API)."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: address to listen on."),
    port: int = typer.Option(8001, "--port", help="With --http: port."),
) -> None:
    """The memory as MCP tools over stdio (search_history, get_conversation,
    list_conversations, remember), for Claude Desktop, IDE agents and other MCP clients."""
    from workbench.door.users import LOCAL
    from workbench.server.mcp_tools import build_mcp

    if http:
        _mcp_http(user, host, port)
        return
    bench = workbench()
    acting = bench.users.get(user) if user else LOCAL
    if acting.disabled:
        fail(f"user {acting.name!r} is disabled")
    build_mcp(bench, acting).run("stdio")


def _mcp_http(user: Optional[str], host: str, port: int) -> None:
    import uvicorn

    from workbench.server.mcp_http import mcp_http_app

    if user:
        fail("--user is for stdio: over HTTP each request is the user its API key names")
    linger = {} if "WORKBENCH_STORE_LINGER_S" in os.environ else {"store_linger_s": 2.0}
    bench = workbench(**linger)
    if not bench.users.any():
        fail("this home has no users: add one with 'workbench users add NAME' and make it a key "
             "with 'workbench users key NAME'")
    app = mcp_http_app(bench, host)
    bench.search.prepare()
    err.print(f"mcp: http://{host}:{port}/mcp  (Ctrl-C to stop)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
