"""Prometheus metrics for /metrics.

Two kinds (docs/operations.md lists every metric):

- Counted in this process, where the event happens (HTTP requests, payment outcomes,
  notification failures, webhook processing delay) and read at scrape time from this
  process's own objects (its database pools). Each process reports its own share: scrape
  every process (each `studioloop api` and each `studioloop worker --metrics-port`) and
  sum. Counts that depend on a transaction are added only once it commits
  (`count_on_commit`), so a rolled-back or retried job is not counted twice.
- Read from the database at scrape time (`studioloop.jobs.metrics`): the job queues and
  failed jobs. The same on every process; aggregate them with max(), not sum().
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from studioloop.db.engine import get_database

REGISTRY = CollectorRegistry(auto_describe=True)
# prometheus_client's multiprocess mode: read when it is imported, so set before start-up.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_COUNT = Counter(
    "studioloop_http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "studioloop_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PAYMENT_OUTCOMES = Counter(
    "studioloop_payments_total",
    "Payments that reached an outcome (succeeded, failed, canceled), by provider.",
    ["provider", "outcome"],
    registry=REGISTRY,
)
NOTIFICATION_FAILURES = Counter(
    "studioloop_notification_failures_total",
    "Messages whose delivery failed for good on a channel (a fallback may follow).",
    ["channel"],
    registry=REGISTRY,
)
NOTIFICATION_ATTEMPT_FAILURES = Counter(
    "studioloop_notification_attempt_failures_total",
    "Delivery attempts that failed and will be retried, by channel.",
    ["channel"],
    registry=REGISTRY,
)
WEBHOOK_DELAY = Histogram(
    "studioloop_webhook_processing_delay_seconds",
    "Time from a payment provider's webhook being received to its being processed.",
    ["provider"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

# Payment statuses that end a payment's attempt; their ratio is the success rate.
PAYMENT_OUTCOME_STATUSES = frozenset({"succeeded", "failed", "canceled"})


def render_metrics(*extra: Collector) -> bytes:
    """This process's metrics, plus collectors made for this one scrape (the database's
    figures, read asynchronously by the caller before rendering).

    With PROMETHEUS_MULTIPROC_DIR set (`studioloop api --workers N` sets it), counters
    live in files shared by the processes on one port, and every scrape adds them up."""
    if os.environ.get(MULTIPROCESS_DIR):
        shared = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        shared.register(POOL_COLLECTOR)
        output = generate_latest(shared)
    else:
        output = generate_latest(REGISTRY)
    if extra:
        scrape = CollectorRegistry(auto_describe=False)
        for collector in extra:
            scrape.register(collector)
        output += generate_latest(scrape)
    return output


class Families:
    """A collector that yields metric families already built (one scrape's figures)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class DatabasePoolCollector:
    """The process's database pools, read when scraped: nothing polls them."""

    def collect(self) -> list[Metric]:
        try:
            database = get_database()
        except RuntimeError:  # no database in this process (yet)
            return []
        pool: Any = database.engine.pool
        in_use = GaugeMetricFamily(
            "studioloop_db_pool_connections",
            "Connections of the engine's pool, in use by a request or job, or idle.",
            labels=["state"],
        )
        in_use.add_metric(["in_use"], pool.checkedout())
        in_use.add_metric(["idle"], pool.checkedin())
        families: list[Metric] = [
            in_use,
            GaugeMetricFamily(
                "studioloop_db_pool_size", "The pool's configured size.", value=pool.size()
            ),
            GaugeMetricFamily(
                "studioloop_db_pool_overflow",
                "Connections open beyond the pool's size (DATABASE_MAX_OVERFLOW).",
                value=max(0, pool.overflow()),
            ),
        ]
        waiting = getattr(pool, "waiting", None)
        if waiting is not None:
            families.append(
                GaugeMetricFamily(
                    "studioloop_db_pool_waiting",
                    "Requests and jobs waiting for a connection of the engine's pool.",
                    value=waiting,
                )
            )
        autocommit = database.autocommit_pool_stats()
        if autocommit is not None:
            connections = GaugeMetricFamily(
                "studioloop_db_autocommit_pool_connections",
                "Connections of the small autocommit pool (rush answers, metrics reads).",
                labels=["state"],
            )
            idle = autocommit.get("pool_available", 0)
            connections.add_metric(["in_use"], autocommit.get("pool_size", 0) - idle)
            connections.add_metric(["idle"], idle)
            families.append(connections)
            families.append(
                GaugeMetricFamily(
                    "studioloop_db_autocommit_pool_waiting",
                    "Reads waiting for a connection of the autocommit pool.",
                    value=autocommit.get("requests_waiting", 0),
                )
            )
        return families


POOL_COLLECTOR = DatabasePoolCollector()
REGISTRY.register(POOL_COLLECTOR)


# --- counting once a transaction commits -----------------------------------------------------

_PENDING = "studioloop_metrics_on_commit"


def count_on_commit(session: AsyncSession | Session, action: Callable[[], None]) -> None:
    """Run `action` (a counter's increment) once the session's transaction commits; never
    if it rolls back. Services only flush, so the count waits for whoever commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_PENDING, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    for action in session.info.pop(_PENDING, []):
        action()


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the list is already gone; after a rollback it is dropped here.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
