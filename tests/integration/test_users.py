"""Users of the server: the CLI, Argon2 hashes, keys kept as hashes, what each user may see."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidInput, NotFound, RateLimited, Unauthorized


def test_users_cli_add_list_disable_reset_key(cli, wb_factory):
    wb = wb_factory(cli.home, auth_cache_s=0)  # sees the CLI's changes at once
    added = cli.runner.invoke(_app(), ["--home", str(cli.home), "users", "add", "dora", "-w", "work",
                                       "-w", "home", "--password-stdin"], input="first-password\n")
    assert added.exit_code == 0, added.output
    listed = cli.json("users", "list")
    assert [(u["name"], u["workspaces"], u["disabled"]) for u in listed] == [
        ("dora", ["work", "home"], False)]
    assert wb.users.authenticate("dora", "first-password").workspaces == ["work", "home"]
    stored = wb.store.users.password_hash("dora")[1]
    assert stored.startswith("$argon2id$") and "first-password" not in stored
    reset = cli.runner.invoke(_app(), ["--home", str(cli.home), "users", "reset", "dora",
                                       "--password-stdin"], input="second-password\n")
    assert reset.exit_code == 0, reset.output
    with pytest.raises(Unauthorized):
        wb.users.authenticate("dora", "first-password")
    key = cli("users", "key", "dora", "--name", "laptop").stdout.strip()
    assert wb.users.by_key(key)[0].name == "dora"
    assert key not in str(wb.store.users.key_by_prefix(key.split(".")[0]))
    cli("users", "disable", "dora")
    with pytest.raises(Unauthorized):
        wb.users.authenticate("dora", "second-password")
    with pytest.raises(Unauthorized):
        wb.users.by_key(key)
    cli("users", "disable", "dora", "--enable")
    assert wb.users.authenticate("dora", "second-password").name == "dora"


def test_bad_accounts_are_refused_with_one_line(cli, wb):
    again = cli.runner.invoke(_app(), ["--home", str(cli.home), "users", "add", "x y",
                                       "--password-stdin"], input="long-enough\n")
    assert again.exit_code == 1 and again.stderr.startswith("error: user name 'x y'")
    with pytest.raises(InvalidInput, match="at least 8"):
        wb.users.add("eve", "short")
    wb.users.add("eve", "long-enough")
    with pytest.raises(InvalidInput, match="exists already"):
        wb.users.add("eve", "long-enough")
    with pytest.raises(Unauthorized):
        wb.users.authenticate("nobody", "long-enough")
    assert cli("users", "disable", "nobody", ok=False).exit_code == 1


def test_a_user_sees_only_their_workspaces(wb):
    alice = wb.users.add("alice", "alice-password", ["a"])
    mine = wb.conversations.create("a", "mine")
    theirs = wb.conversations.create("b", "theirs")
    assert wb.users.conversation(alice, mine.id[:8]).id == mine.id
    with pytest.raises(NotFound, match="does not exist"):
        wb.users.conversation(alice, theirs.id)
    with pytest.raises(NotFound):
        wb.users.workspace(alice, "b")
    assert wb.users.workspace(alice) == "a"


def test_a_change_from_another_process_is_seen_within_the_trust_window(home, wb_factory):
    from conftest import wait_until

    server = wb_factory(home, auth_cache_s=0.3)
    key, _ = server.users.create_key(server.users.add("fay", "fay-password"), "k")
    assert server.users.by_key(key)[0].name == "fay"
    wb_factory(home).users.disable("fay")  # another workbench: the CLI, say

    def refused() -> bool:
        try:
            server.users.by_key(key)
        except Unauthorized:
            return True
        return False

    assert wait_until(refused, within_s=5)


def test_sign_in_counts_failures_per_client_and_refuses_past_the_limit(home, wb_factory):
    wb = wb_factory(home, login_rate_limit="3/minute")
    wb.users.add("gil", "gil-password")
    for _ in range(5):  # successes are not counted
        assert wb.users.sign_in("gil", "gil-password", "10.0.0.1").name == "gil"
    for _ in range(3):
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            wb.users.sign_in("gil", "not-the-password", "10.0.0.1")
    with pytest.raises(RateLimited, match="too many failed sign-ins") as refused:
        wb.users.sign_in("gil", "gil-password", "10.0.0.1")  # not even the right password
    assert 1 <= refused.value.retry_after_s <= 60
    assert wb.users.sign_in("gil", "gil-password", "10.0.0.2").name == "gil"  # another client


def test_a_trusted_credential_needs_no_store_read_and_a_revoked_key_is_refused_at_once(wb):
    from workbench.server.security import Guard, Tokens

    guard = Guard(wb.users, Tokens("s" * 32, 60, 600), wb.settings)
    user = wb.users.add("hal", "hal-password")
    key, record = wb.users.create_key(user, "k")
    assert guard.trusted(key) is None  # never checked: identify must read the store
    assert guard.identify(key).user.name == "hal"
    assert guard.trusted(key).limit_key == f"key:{record.id}"
    access = guard.tokens.issue(user)["access_token"]
    assert guard.trusted(access).user.name == "hal"  # the key's check vouched for the user
    wb.users.revoke_key(user, record.id)
    assert guard.trusted(key) is None
    with pytest.raises(Unauthorized, match="revoked"):
        guard.identify(key)
    wb.users.disable("hal")
    with pytest.raises(Unauthorized, match="disabled"):
        guard.identify(access)


def _app():
    from workbench.cli.main import app

    return app
