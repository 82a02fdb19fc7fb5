"""``/metrics`` reports the home's health on a real uvicorn: the chunks the index lacks, counted
at each scrape, and the latest ``workbench doctor`` run's checks with their time, which a scrape
reads and never runs (they scan the whole index)."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ingest_into, run_workbench
from serving import Served
from workbench.ops.doctor import LEVELS


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics``, by name and labels, read with Prometheus's own parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def checks(samples: dict) -> dict[str, float]:
    return {dict(labels)["check"]: value for (name, labels), value in samples.items()
            if name == "workbench_doctor_check_status"}


def waiting(samples: dict) -> dict[str, tuple[float, float]]:
    """By index: (chunks not in it yet, conversations not chunked yet)."""
    found = {}
    for (name, labels), value in samples.items():
        if name == "workbench_index_pending_chunks":
            found.setdefault(dict(labels)["index"], [0, 0])[0] = value
        elif name == "workbench_index_unchunked_conversations":
            found.setdefault(dict(labels)["index"], [0, 0])[1] = value
    return {index: tuple(pair) for index, pair in found.items()}


def doctor(home) -> dict:
    done = run_workbench(home, "doctor", "--json")
    assert done.returncode in (0, 1), done.stderr  # 1: a check failed; still a report
    return json.loads(done.stdout)


@pytest.mark.timeout(600)
def test_metrics_show_pending_chunks_and_the_latest_doctor_checks(tmp_path, embedder):
    home = tmp_path / "home"
    with ingest_into(home, {"default": ["claude_trimmed.json"]}, embedder,
                     index_on_ingest=False, store_linger_s=2.0) as wb, \
            Served(wb, auth=False) as served, served.client() as client:
        before = scrape(client)
        assert checks(before) == {}  # no doctor run yet: nothing claimed
        assert before[("workbench_doctor_checked_timestamp_seconds", ())] == 0
        [(index, (chunks, conversations))] = waiting(before).items()
        assert conversations > 0  # imported, not chunked nor indexed

        started = time.time()
        report = doctor(home)
        assert (report["index"]["name"], report["index"]["pending"],
                report["index"]["stale_conversations"]) == (index, chunks, conversations)
        after = scrape(client)
        assert checks(after) == {c["name"]: LEVELS[c["status"]] for c in report["checks"]}
        assert checks(after)["index freshness"] == LEVELS["warn"]
        checked = after[("workbench_doctor_checked_timestamp_seconds", ())]
        assert started - 1 <= checked <= time.time()

        wb.search.index_pending()
        indexed = scrape(client)
        assert waiting(indexed) == {index: (0, 0)}  # counted at the scrape
        assert checks(indexed) == checks(after)  # the checks are the last run's, with its time
        assert indexed[("workbench_doctor_checked_timestamp_seconds", ())] == checked

        report = doctor(home)
        again = scrape(client)
        assert checks(again)["index freshness"] == LEVELS["ok"] == LEVELS[report["status"]]
        assert again[("workbench_doctor_checked_timestamp_seconds", ())] > checked
