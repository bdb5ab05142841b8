"""Receiver health: consecutive failures and circuits per URL, failing webhooks.

Folded from a batch of results in a few statements per URL, not per attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stagehook.store.outbox.records import Recorded
from stagehook.store.prepared import Prepared, json_keys, json_param, json_rows
from stagehook.store.tables import endpoints, webhooks


def ensure_endpoint(conn: Connection, url: str) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(endpoints)
        .values(url=url, consecutive_failures=0, circuit_open=False)
        .on_conflict_do_nothing(index_elements=["url"])
    )


# A URL whose batch ended in a success: healthy, circuit closed (the common case, so
# one statement for all such URLs of a batch, created on first sight).
_HEALTHY = Prepared.sql(
    """
INSERT INTO endpoints (url, consecutive_failures, circuit_open, probe_after, last_success_at)
VALUES (:url, 0, false, NULL, :now)
ON CONFLICT (url) DO UPDATE SET consecutive_failures = 0, circuit_open = false,
    probe_after = NULL, last_success_at = excluded.last_success_at
"""
)

# A webhook whose batch ended in a success is not failing (written only if it was).
_NOT_FAILING = Prepared.sql(
    """
UPDATE webhooks SET failing_since = NULL WHERE webhook_id = :id AND failing_since IS NOT NULL
"""
)


class Fold(NamedTuple):
    """A batch of results folded per receiver URL and per webhook, each list sorted, so
    two workers recording successes for the same rows never wait on each other
    crosswise (a batch mixing failures can; a deadlock aborts one cycle, which keeps
    its results and tries again)."""

    #: URLs and webhooks whose last result in the batch is a success
    healthy: list[str]
    recovered: list[str]
    #: the others, with their results in order
    failing_urls: list[tuple[str, list[Recorded]]]
    failing_hooks: list[tuple[str, list[Recorded]]]


def fold(results: Sequence[Recorded]) -> Fold:
    by_url: dict[str, list[Recorded]] = {}
    by_hook: dict[str, list[Recorded]] = {}
    for r in results:
        by_url.setdefault(r.url, []).append(r)
        by_hook.setdefault(r.webhook_id, []).append(r)
    return Fold(
        [url for url in sorted(by_url) if by_url[url][-1].success],
        [hook for hook in sorted(by_hook) if by_hook[hook][-1].success],
        [(url, rows) for url, rows in sorted(by_url.items()) if not rows[-1].success],
        [(hook, rows) for hook, rows in sorted(by_hook.items()) if not rows[-1].success],
    )


#: The healthy part of a ``Fold`` as parts of one PostgreSQL statement
#: (store/outbox/record.py): a JSON array of URLs and one of webhook ids.
HEALTHY_CTES = (
    "healthy AS (INSERT INTO endpoints (url, consecutive_failures, circuit_open, "
    "probe_after, last_success_at) SELECT r.url, 0, false, NULL, :now FROM "
    + json_rows("healthy", [("url", "text")])
    + " ON CONFLICT (url) DO UPDATE SET consecutive_failures = 0, circuit_open = false, "
    "probe_after = NULL, last_success_at = excluded.last_success_at)",
    "recovered AS (UPDATE webhooks SET failing_since = NULL FROM "
    + json_rows("recovered", [("id", "text")])
    + f" WHERE webhooks.webhook_id = ANY({json_keys('recovered', 'id', 'text')})"
    " AND webhooks.webhook_id = r.id AND webhooks.failing_since IS NOT NULL)",
)


def healthy_params(folded: Fold) -> dict[str, str]:
    """The values of ``HEALTHY_CTES`` (besides ``:now``)."""
    return {
        "healthy": json_param([{"url": url} for url in folded.healthy]),
        "recovered": json_param([{"id": hook} for hook in folded.recovered]),
    }


def record_health(
    conn: Connection,
    results: Sequence[Recorded],
    now: float,
    failure_threshold: int,
    probe_interval: float,
    disable_after: float,
) -> None:
    """Fold a batch of results into endpoint and webhook health."""
    folded = fold(results)
    _HEALTHY.run_many(conn, [{"url": url, "now": now} for url in folded.healthy])
    _NOT_FAILING.run_many(conn, [{"id": hook} for hook in folded.recovered])
    record_failing(conn, folded, now, failure_threshold, probe_interval, disable_after)


def record_failing(
    conn: Connection,
    folded: Fold,
    now: float,
    failure_threshold: int,
    probe_interval: float,
    disable_after: float,
) -> None:
    """The URLs and webhooks of a ``Fold`` whose batch ended in a failure."""
    for url, rows in folded.failing_urls:
        ensure_endpoint(conn, url)
        last_success = max((i for i, r in enumerate(rows) if r.success), default=-1)
        failures_after = len(rows) - last_success - 1
        values: dict[str, object] = {}
        if last_success >= 0:
            values.update(
                consecutive_failures=failures_after,
                last_success_at=now,
                circuit_open=False,
                probe_after=None,
            )
        else:
            values["consecutive_failures"] = endpoints.c.consecutive_failures + failures_after
        if failures_after:
            values["last_failure_at"] = now
        conn.execute(update(endpoints).where(endpoints.c.url == url).values(**values))
        if failures_after:
            conn.execute(
                update(endpoints)
                .where(
                    endpoints.c.url == url,
                    endpoints.c.consecutive_failures >= failure_threshold,
                )
                .values(circuit_open=True, probe_after=now + probe_interval)
            )
    for webhook_id, rows in folded.failing_hooks:
        _record_webhook(conn, webhook_id, rows, now, disable_after)


def _record_webhook(
    conn: Connection, webhook_id: str, rows: Sequence[Recorded], now: float, disable_after: float
) -> None:
    """A webhook whose batch ended in a failure: failing since now, unless it already was.

    Failing without a break for ``disable_after`` seconds, or gone, disables it.
    """
    this = webhooks.c.webhook_id == webhook_id
    conn.execute(
        update(webhooks).where(this, webhooks.c.failing_since.is_(None)).values(failing_since=now)
    )
    reason = next((r.disable_reason for r in rows if r.disable_reason), None)
    if reason is None:
        since = conn.execute(select(webhooks.c.failing_since).where(this)).scalar()
        if since is not None and now - since >= disable_after:
            reason = f"failing continuously since {since:.0f} (epoch seconds)"
    if reason is not None:
        conn.execute(
            update(webhooks)
            .where(this, webhooks.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason)
        )


def endpoint_health(conn: Connection, urls: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each known receiver URL's circuit and last success/failure."""
    rows = conn.execute(
        select(
            endpoints.c.url,
            endpoints.c.consecutive_failures,
            endpoints.c.circuit_open,
            endpoints.c.last_success_at,
            endpoints.c.last_failure_at,
        ).where(endpoints.c.url.in_(set(urls)))
    ).all()
    return {
        r.url: {
            "consecutive_failures": r.consecutive_failures or 0,
            "circuit_open": bool(r.circuit_open),
            "last_success_at": r.last_success_at,
            "last_failure_at": r.last_failure_at,
        }
        for r in rows
    }


def count_open_circuits(conn: Connection) -> int:
    count = conn.execute(
        select(func.count()).select_from(endpoints).where(endpoints.c.circuit_open)
    ).scalar()
    return int(count or 0)
