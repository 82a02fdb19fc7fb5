"""``/metrics``: request counts and latencies in Prometheus's text format.

Each app has its own registry, so two servers in one process (the tests) never share counters.
Requests are labelled by route template, not by path, so ids do not explode the series.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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

    def note_home(self, home: Path) -> None:
        from workbench.ops.doctor import sizes

        for part, size in sizes(home).items():
            self.home_bytes.labels(part).set(size)

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
