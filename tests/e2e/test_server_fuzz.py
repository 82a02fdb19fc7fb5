"""The OpenAPI schema fuzzed by schemathesis against a real uvicorn on 127.0.0.1.

Every route, signed in as alice (a JWT: nothing the fuzzer sends can revoke it, unlike an API
key through ``DELETE /api/v1/keys/{id}``), on a throwaway copy of the indexed home, so the
destructive routes (delete a conversation, upload an export) run too. The checks: no 5xx, every
answer of a documented status with the documented content type, headers and schema, invalid
input refused with a 4xx, and a request without credentials refused. ``FUZZ_EXAMPLES`` sets
the examples per route (``make fuzz`` runs a larger number); the run's figures are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import copy_home
from fake_openai import FakeOpenAI, cite_first_memory
from serving import Served
from workbench import Workbench

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
          "ignored_auth")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, indexed_home, embedder) -> Iterator[Served]:
    home = copy_home(indexed_home, tmp_path_factory.mktemp("fuzz") / "home")
    with FakeOpenAI(cite_first_memory, model="scripted-1") as llm, \
            Workbench.open(home, embedder, llm_base_url=llm.base_url, llm_model=llm.model,
                           store_linger_s=2.0, rate_limit="1000000/minute",
                           login_rate_limit="1000000/minute", jwt_access_s=7200) as wb:
        wb.users.add("alice", "alice-password", ["default"])
        wb.users.add("bob", "bob-password", ["other"])
        with Served(wb) as server:
            yield server
            server.app.state.jobs.wait()


def test_fuzzing_the_openapi_schema_finds_no_5xx_and_no_schema_violation(served, tmp_path):
    token = served.login("alice", "alice-password")["access_token"]
    report = tmp_path / "report.json"
    command = [str(Path(sys.executable).parent / "st"), "run", f"{served.url}/openapi.json",
               "--header", f"Authorization: Bearer {token}", "--checks", CHECKS,
               "--max-examples", str(EXAMPLES), "--seed", "16", "--workers", "1",
               "--phases", "examples,coverage,fuzzing", "--request-timeout", "60",
               "--suppress-health-check", "too_slow,filter_too_much",
               "--generation-database", "none", "--no-color", "--report", "json",
               "--report-json-path", str(report)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=3300,
                         cwd=tmp_path)  # its cache folder, not in the repository
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    with served.client() as anonymous:
        routes = sum(len(ops) for ops in anonymous.get("/openapi.json").json()["paths"].values())
    assert f"Operations:       {routes} selected / {routes} total" in run.stdout
    assert f"Tested: {routes}" in run.stdout  # every route, none skipped for want of data
    cases = json.loads(report.read_text())["test_cases"]
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    print(f"schemathesis: {routes} operations, {cases['generated']} generated requests, "
          f"{EXAMPLES} examples per operation, 0 failures")
