"""Claiming due deliveries with a lease, releasing them, and when the next one is due.

This is our core, so it is hand-written SQL: the claim is procrastinate's shape
(``UPDATE ... WHERE id IN (SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED)
RETURNING``) on PostgreSQL; SQLite has a single writer, so the same statement without the
row locks is already exclusive. A row whose lease is live belongs to one worker only.

The claim runs in two steps: pick candidates (due, not leased, circuit closed or its
probe due, at most ``per_url`` per URL) from the partial index, then lock and lease those
ids. Passing the ids as a list keeps the locking step a primary-key lookup whatever the
planner believes about table sizes (one combined statement measured 300 ms on a fresh
table of 5,000 due rows; the two steps take a few milliseconds).

``claim_due`` runs both steps in the caller's transaction. On PostgreSQL,
``claim_due_alone`` runs them as one statement that is a transaction of its own, on the
dispatcher's event loop (store/async_statements.py): one round trip instead of four
(BEGIN, pick, lease, COMMIT), which were a third of a delivery's time from commit to
arrival at half the submit capacity (docs/benchmarks.md). There the lease looks each
candidate up by primary key (a lateral lookup). The lease checks what it takes (still
due, not leased, row-locked), so nothing is taken twice. It steps aside when a candidate
is a probe (an open circuit whose probe is due): a probe's lease, the release of the
other rows of its URL and the next probe's time commit together, so the caller claims in
a transaction then.

The statements are constant texts run as ``Prepared`` (store/prepared.py): compiled once
per dialect, on the driver's cursor, ids passed as one list parameter (``IN_LIST``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import Connection, update

from stagehook.store.async_statements import AsyncStatements
from stagehook.store.outbox.records import Claimed, DeliveryStatus, due_condition
from stagehook.store.prepared import Prepared
from stagehook.store.tables import endpoints

log = logging.getLogger(__name__)

_DUE = due_condition("d.status")

# Due rows, not leased, their circuit closed or its probe due, oldest first, numbered per
# URL (``rn``), with {not_saturated} to leave out URLs whose cap is reached.
_RANKED = f"""(
  SELECT c.id, c.url, c.next_attempt_at,
         row_number() OVER (PARTITION BY c.url ORDER BY c.next_attempt_at, c.id) AS rn
  FROM (
    SELECT d.id, d.url, d.next_attempt_at FROM deliveries d
    WHERE {_DUE} AND d.next_attempt_at <= :now
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at < :now)
      AND d.url NOT IN (
        SELECT e.url FROM endpoints e
        WHERE e.circuit_open AND (e.probe_after IS NULL OR e.probe_after > :now)
      )
      {{not_saturated}}
    ORDER BY d.next_attempt_at LIMIT :scan
  ) c
) ranked"""
# A candidate whose circuit is open is a probe (its probe is due, else it is no candidate).
_PROBE = "ranked.url IN (SELECT e.url FROM endpoints e WHERE e.circuit_open)"
_CANDIDATES = f"""
SELECT ranked.id, ranked.url, ranked.rn FROM {_RANKED} WHERE ranked.rn <= :per_url
"""
#: The candidate scan, without and with URLs whose per-URL cap is already reached.
_PICK = Prepared.sql(_CANDIDATES.format(not_saturated=""))
_PICK_UNSATURATED = Prepared.sql(
    _CANDIDATES.format(not_saturated="AND NOT (d.url IN_LIST(saturated))")
)


class _Candidate(NamedTuple):
    id: int
    url: str
    rn: int


# Lease the rows {rows} selects: still due, not leased (another worker may have won
# some), at most ``:n``.
_LEASE = """
UPDATE deliveries SET lease_owner = :worker, lease_expires_at = :lease_until
WHERE id IN ({rows})
RETURNING id, event_uid, event_type, webhook_id, url, attempts, retry_base, next_attempt_at
"""
_STILL_DUE = f"{_DUE} AND (d.lease_expires_at IS NULL OR d.lease_expires_at < :now)"
_BY_ID = f"""
  SELECT d.id FROM deliveries d WHERE d.id IN_LIST(ids) AND {_STILL_DUE}
  ORDER BY d.next_attempt_at LIMIT :n {{lock}}
"""


# What sending needs, per leased row: the event's bytes, the webhook's secrets and state.
_DETAILS = """
SELECT d.id, d.event_uid, d.event_type, d.webhook_id, d.url, d.attempts, d.retry_base,
       ev.body, ev.created_at, w.secret, w.previous_secret, w.previous_secret_expires_at,
       w.enabled, w.deleted_at, e.circuit_open
FROM {leased} d
JOIN events ev ON ev.uid = d.event_uid
JOIN webhooks w ON w.webhook_id = d.webhook_id
LEFT JOIN endpoints e ON e.url = d.url
{where}
ORDER BY d.next_attempt_at, d.id
"""

#: SQLite: lease, then read the leased rows' details (its RETURNING cannot join).
_SQLITE_LEASE = Prepared.sql(_LEASE.format(rows=_BY_ID.format(lock="")))
_SQLITE_DETAILS = Prepared.sql(
    _DETAILS.format(leased="deliveries", where="WHERE d.id IN_LIST(ids)")
)
#: PostgreSQL: one statement, row locks skipping rows another worker is leasing.
_PG_LEASE_WITH_DETAILS = Prepared.sql(
    "WITH leased AS ("
    + _LEASE.format(rows=_BY_ID.format(lock="FOR UPDATE SKIP LOCKED"))
    + ")"
    + _DETAILS.format(leased="leased", where="")
)
#: PostgreSQL: the whole claim in one statement (``claim_due_alone``). The lease looks
#: each materialized candidate up by primary key, oldest first, locking as it goes
#: until it has ``:n``: a lateral lookup leaves the planner no other way (joined, or
#: as ``= ANY(ARRAY(SELECT ...))``, it chose to read every due row through the partial
#: index, by its statistics or for want of them). ``busy`` comes as two arrays. It
#: leases nothing when a candidate is a probe, and always returns one row at least:
#: the leased rows' details, or NULLs, and last whether probes wait.
_PG_CLAIM = Prepared.sql(
    "WITH picked AS MATERIALIZED (SELECT ranked.id, ranked.next_attempt_at, "
    + _PROBE
    + " AS probe FROM "
    + _RANKED.format(not_saturated="AND NOT (d.url = ANY(CAST(:saturated AS text[])))")
    + """
  LEFT JOIN unnest(CAST(:busy_urls AS text[]), CAST(:busy_counts AS integer[])) AS b(url, n)
    ON b.url = ranked.url
  WHERE ranked.rn <= :per_url - COALESCE(b.n, 0)
), waiting AS (
  SELECT COALESCE(bool_or(probe), false) AS probes FROM picked
), leased AS ("""
    + _LEASE.format(
        rows=f"""
  SELECT l.id FROM (
    SELECT id, next_attempt_at FROM picked WHERE NOT (SELECT probes FROM waiting)
    ORDER BY next_attempt_at, id
  ) p CROSS JOIN LATERAL (
    SELECT d.id FROM deliveries d WHERE d.id = p.id AND {_STILL_DUE} FOR UPDATE SKIP LOCKED
  ) l LIMIT :n
"""
    )
    + ") SELECT x.*, waiting.probes FROM waiting LEFT JOIN LATERAL ("
    + _DETAILS.format(leased="leased", where="")
    + ") x ON true"
)


class _Leased(NamedTuple):
    """A row of ``_DETAILS``, in its column order."""

    id: int
    event_uid: str
    event_type: str
    webhook_id: str
    url: str
    attempts: int
    retry_base: int
    body: bytes
    created_at: float
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: float | None
    enabled: bool
    deleted_at: float | None
    circuit_open: bool | None


class ClaimTerms(TypedDict):
    """What a claim may take, as ``claim_due`` and ``claim_due_alone`` both take it."""

    lease_seconds: float
    limit: int
    per_url: int
    busy: Mapping[str, int]


def _saturated(busy: Mapping[str, int], per_url: int) -> list[str]:
    """URLs with every slot of their cap busy: no candidates from these."""
    return [url for url, n in busy.items() if n >= per_url]


def claim_due(
    conn: Connection,
    worker: str,
    *,
    now: float,
    lease_seconds: float,
    limit: int,
    per_url: int,
    busy: Mapping[str, int] | None = None,
    probe_interval: float = 30.0,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries, at most ``per_url`` per URL in flight, in
    the caller's transaction.

    ``busy`` counts the caller's requests already in flight per URL, so the cap holds
    across claims, not just within one.

    URLs whose circuit is open yield one probe at a time: the first claimed row for such
    a URL is the probe and the rest are released again. Rows whose webhook is disabled or
    deleted are failed here, in the same transaction, and never returned.
    """
    busy = busy or {}
    saturated = _saturated(busy, per_url)
    params: dict[str, Any] = {"now": now, "scan": limit * 4, "per_url": per_url}
    if saturated:
        params["saturated"] = saturated
    rows = (_PICK_UNSATURATED if saturated else _PICK).rows(conn, params)
    ids = [c.id for c in map(_Candidate._make, rows) if c.rn <= per_url - busy.get(c.url, 0)]
    return _lease(conn, worker, ids, now, now + lease_seconds, limit, probe_interval)


async def claim_due_alone(
    db: AsyncStatements,
    worker: str,
    *,
    now: float,
    lease_seconds: float,
    limit: int,
    per_url: int,
    busy: Mapping[str, int] | None = None,
) -> list[Claimed] | None:
    """PostgreSQL, on the event loop (store/async_statements.py, every statement a
    transaction of its own): ``claim_due`` in one statement, or None, leasing nothing,
    when a candidate is a probe (then claim in a transaction).

    Rows of a disabled or deleted webhook are failed by a statement after the lease's
    commit. If that statement fails (the connection lost in between), the claimed rows
    are still returned, to be sent; the others stay leased until the lease lapses, as
    after a lost ``COMMIT`` answer, and are claimed (and failed) again then.
    """
    busy = busy or {}
    rows = await db.rows(
        _PG_CLAIM,
        {
            "now": now,
            "scan": limit * 4,
            "per_url": per_url,
            "saturated": _saturated(busy, per_url),
            "busy_urls": list(busy),
            "busy_counts": list(busy.values()),
            "worker": worker,
            "lease_until": now + lease_seconds,
            "n": limit,
        },
    )
    if rows[0][-1]:
        return None
    # One snapshot: a leased row's circuit is closed, as the candidates' were (were one
    # open, its row would be released, not probed).
    got = _sort([r[:-1] for r in rows if r[0] is not None], now, probes=False)
    try:
        if got.released:
            await db.rows(_RELEASE, {"worker": worker, "ids": got.released})
        if got.stopped:
            await db.rows(_FAIL_STOPPED, {"worker": worker, "ids": got.stopped, "now": now})
    except Exception as exc:  # psycopg's errors: the rows to send are leased, send them
        log.warning(
            "could not settle %d leased rows (%s); claimed again when their lease lapses",
            len(got.released) + len(got.stopped),
            exc,
        )
    return got.claimed


def _lease(
    conn: Connection,
    worker: str,
    ids: list[int],
    now: float,
    until: float,
    limit: int,
    probe_interval: float,
) -> list[Claimed]:
    """Lease the first ``limit`` of the candidates ``ids`` that are still due (the rest
    stand in for those another worker took meanwhile), and return what sending them
    needs: one probe per open circuit, its other rows released, rows of a disabled or
    deleted webhook failed, all in the caller's transaction."""
    if not ids:
        return []
    params = {"worker": worker, "lease_until": until, "now": now, "n": limit, "ids": ids}
    if conn.dialect.name == "postgresql":
        leased = _PG_LEASE_WITH_DETAILS.rows(conn, params)
    else:
        leased_ids = [id_ for id_, *_returned in _SQLITE_LEASE.rows(conn, params)]
        if not leased_ids:
            return []
        leased = _SQLITE_DETAILS.rows(conn, {"ids": leased_ids})
    got = _sort(leased, now, probes=True)
    release(conn, worker, got.released)
    if got.stopped:
        _FAIL_STOPPED.run(conn, {"worker": worker, "ids": got.stopped, "now": now})
    if got.probing:
        conn.execute(
            update(endpoints)
            .where(endpoints.c.url.in_(got.probing))
            .values(probe_after=now + probe_interval)
        )
    return got.claimed


class _Sorted(NamedTuple):
    """Leased rows by what becomes of them."""

    claimed: list[Claimed]
    #: URLs whose circuit is open and which have their probe among ``claimed``
    probing: set[str]
    #: to give back: a second row behind an open circuit
    released: list[int]
    #: to fail: their webhook is disabled or deleted
    stopped: list[int]


def _sort(leased: Sequence[Sequence[Any]], now: float, *, probes: bool) -> _Sorted:
    """The leased rows (``_DETAILS``) to send, and those to release or fail: one probe
    per open circuit (none unless ``probes``), the other rows behind it released."""
    got = _Sorted([], set(), [], [])
    for r in map(_Leased._make, leased):
        if not r.enabled or r.deleted_at is not None:
            got.stopped.append(r.id)
            continue
        probe = bool(r.circuit_open)
        if probe:
            if not probes or r.url in got.probing:
                got.released.append(r.id)
                continue
            got.probing.add(r.url)
        secrets = [r.secret]
        if r.previous_secret and (r.previous_secret_expires_at or 0) > now:
            secrets.append(r.previous_secret)
        got.claimed.append(
            Claimed(
                id=r.id,
                event_uid=r.event_uid,
                event_type=r.event_type,
                webhook_id=r.webhook_id,
                url=r.url,
                body=bytes(r.body),
                secrets=tuple(secrets),
                attempts=r.attempts,
                retry_base=r.retry_base,
                created_at=r.created_at,
                probe=probe,
            )
        )
    return got


_RELEASE = Prepared.sql(
    "UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL"
    " WHERE id IN_LIST(ids) AND lease_owner = :worker"
)
# Deliveries of a disabled or deleted webhook stop here, failed and replayable.
_FAIL_STOPPED = Prepared.sql(
    f"UPDATE deliveries SET status = '{DeliveryStatus.FAILED}', lease_owner = NULL,"
    " lease_expires_at = NULL, completed_at = :now,"
    " last_error = 'webhook is disabled or deleted'"
    " WHERE id IN_LIST(ids) AND lease_owner = :worker"
)


def release(conn: Connection, worker: str, ids: Sequence[int]) -> None:
    """Give leased rows back untouched, so any worker may take them at once."""
    if ids:
        _RELEASE.run(conn, {"worker": worker, "ids": list(ids)})


# The status condition is spelled as the partial index's (see ``due_condition``).
_NEXT_DUE = Prepared.sql(f"""
SELECT MIN(CASE WHEN e.circuit_open AND e.probe_after > s.at THEN e.probe_after ELSE s.at END)
FROM (
  SELECT d.url,
         CASE WHEN d.lease_expires_at >= :now AND d.lease_expires_at > d.next_attempt_at
              THEN d.lease_expires_at ELSE d.next_attempt_at END AS at
  FROM deliveries d
  WHERE {_DUE}
  ORDER BY d.next_attempt_at LIMIT 500
) s LEFT JOIN endpoints e ON e.url = s.url
""")


def next_due(conn: Connection, now: float) -> float | None:
    """When a waiting delivery next becomes claimable (None when nothing waits).

    Leased rows count from their lease's end and rows behind an open circuit from the
    next probe, so a dispatcher never spins on work it cannot take.
    """
    return _due(_NEXT_DUE.first(conn, {"now": now}))


async def next_due_alone(db: AsyncStatements, now: float) -> float | None:
    """``next_due`` on the event loop (PostgreSQL, store/async_statements.py)."""
    rows = await db.rows(_NEXT_DUE, {"now": now})
    return _due(rows[0] if rows else None)


def _due(row: Sequence[Any] | None) -> float | None:
    value = row[0] if row else None
    return float(value) if value is not None else None
