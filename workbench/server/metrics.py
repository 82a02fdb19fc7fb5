"""``/metrics``: request counts and latencies in Prometheus's text format, and the home's health.

Each app has its own registry, so two servers in one process (the tests) never share counters.
Requests are labelled by route template, not by path, so ids do not explode the series. A
scrape measures only what is cheap (the sizes, one count of the chunks the index lacks); the
integrity checks scan the whole index, so it reports the latest ``workbench doctor`` run's
results with their time instead of running them.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from workbench.api import Workbench


class Metrics:
    """Counts every request by method, route and status, and times it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("workbench_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("workbench_http_request_seconds", "Time to answer (to the "
                                 "start of the response body for streams)", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.in_flight = Gauge("workbench_http_requests_in_flight", "Requests being answered",
                               registry=self.registry)
        # The sizes `workbench doctor` reports, read at each scrape (a walk of the home's folders).
        self.home_bytes = Gauge("workbench_home_bytes", "Bytes on disk, by part of the home",
                                ["part"], registry=self.registry)
        self.pending = Gauge("workbench_index_pending_chunks", "Chunks stored but not yet in "
                             "the index (read at each scrape)", ["index"], registry=self.registry)
        self.unchunked = Gauge("workbench_index_unchunked_conversations", "Conversations not "
                               "chunked yet, so not in the index (read at each scrape; the ones "
                               "changed since they were chunked: workbench doctor)", ["index"],
                               registry=self.registry)
        self.checks = Gauge("workbench_doctor_check_status", "The latest `workbench doctor` "
                            "run's checks: 0 ok, 1 warn, 2 fail", ["check"],
                            registry=self.registry)
        self.checked = Gauge("workbench_doctor_checked_timestamp_seconds", "When the latest "
                             "`workbench doctor` run checked (Unix time; 0: never)", registry=self.registry)

    def note(self, wb: Workbench) -> None:
        """Read the home's figures into the gauges, before a scrape."""
        from workbench.ops.doctor import LEVELS, last_run, pending, sizes

        for part, size in sizes(wb.settings.home).items():
            self.home_bytes.labels(part).set(size)
        index, waiting, unchunked = pending(wb)
        self.pending.clear()
        self.pending.labels(index).set(waiting)
        self.unchunked.clear()
        self.unchunked.labels(index).set(unchunked)
        self.checks.clear()
        found = last_run(wb.settings.home)
        if found is None:
            return
        for check in found["checks"]:
            self.checks.labels(check["name"]).set(LEVELS.get(check["status"], 2))
        self.checked.set(datetime.fromisoformat(found["at"]).timestamp())

    def install(self, app: FastAPI) -> None:
        metrics = self

        class Measure:
            def __init__(self, inner: Any):
                self.inner = inner

            async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
                if scope["type"] != "http":
                    await self.inner(scope, receive, send)
                    return
                started = time.perf_counter()
                status = [500]

                async def noted(message: dict) -> None:
                    if message["type"] == "http.response.start":
                        status[0] = message["status"]
                    await send(message)

                metrics.in_flight.inc()
                try:
                    await self.inner(scope, receive, noted)
                finally:
                    metrics.in_flight.dec()
                    route = getattr(scope.get("route"), "path", "unmatched")
                    metrics.requests.labels(scope["method"], route, str(status[0])).inc()
                    metrics.latency.labels(scope["method"], route).observe(
                        time.perf_counter() - started)

        app.add_middleware(Measure)
