"""The dispatcher: claim due deliveries, send them concurrently, record the results.

Flow per delivery: claim (lease) -> sign -> POST -> decide -> record. The database work
runs in cycles: each records every attempt that finished since the last one and claims
as many due rows as there is room for (on SQLite in one transaction, on PostgreSQL in
two loops side by side). Claimed rows wait in a ready queue, so claims run ahead of the
sends. Sends run concurrently under a global cap and a per-URL cap, so one slow
receiver cannot starve the others. A commit that creates work wakes the claims
at once; finishing deliveries wake them a quarter of the slots at a time, but only when
the last claim may have left due rows behind for want of room (a full batch, or a URL
at its cap); idle, the dispatcher sleeps until the next due time or the slow poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, NamedTuple

from stagehook.delivery import metrics
from stagehook.delivery.outcome import AttemptResult, decide
from stagehook.delivery.sender import Sender
from stagehook.store.async_statements import AsyncStatements
from stagehook.store.context import Store
from stagehook.store.outbox import claim, record, workers
from stagehook.store.outbox.records import Claimed, DeliveryStatus, Recorded
from stagehook.store.outbox.retention import purge
from stagehook.store.secret_box import secret_box

log = logging.getLogger(__name__)

PURGE_SECONDS = 3600.0
#: How long a finished attempt may wait for company before it is recorded.
RECORD_WITHIN = 0.005
#: While deliveries are in flight, how often to ask when the next waiting row is due.
DUE_RECHECK = 0.5
BACKOFF_START = 0.2
BACKOFF_MAX = 10.0
#: Rows a dispatcher holds (leased: in flight or ready) per request slot. A claim takes
#: up to ``claim_batch`` rows and a claim transaction takes longer than the requests it
#: feeds (10 ms for ~60 rows on PostgreSQL here), so claims must run well ahead: 2
#: capped PostgreSQL at 33 % of the raw POST ceiling, 4 gives 37-39 % (SQLite 58-61 %
#: -> 67-69 %; docs/benchmarks.md).
HELD_PER_SLOT = 4


class _LoopConnections(NamedTuple):
    """PostgreSQL: a dispatcher's connections on its loop, one per loop of cycles, so a
    record never waits behind a claim's statement or the other way round."""

    claims: AsyncStatements
    records: AsyncStatements


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Dispatcher:
    def __init__(self, store: Store, worker_id: str | None = None) -> None:
        self.store = store
        self.settings = store.settings
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:12]}"
        self.rng = random.Random()
        # Claims wake on committed work and free slots, recording on finished attempts.
        # SQLite does both in one transaction, so there they are one loop and one event.
        self._wake = asyncio.Event()
        self._record_wake = self._wake if store.db.is_sqlite else asyncio.Event()
        self._stop = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        # Claimed rows wait in ``_ready`` for a free slot, so the next claim runs while
        # the last one's rows are being sent: up to ``HELD_PER_SLOT`` x ``max_in_flight``
        # rows are held (leased), at most ``max_in_flight`` requests in flight, and per
        # URL at most ``max_in_flight_per_url`` in flight (``_sending``) and twice that
        # held.
        self._ready: deque[Claimed] = deque()
        self._sending: Counter[str] = Counter()
        self._held: Counter[str] = Counter()
        self._results: list[Recorded] = []
        self._schedule = list(self.settings.retry_schedule)
        # Finished attempts wake the loops in groups: a quarter of the slots at a time.
        self._wake_after = max(1, self.settings.max_in_flight // 4)
        self._record_timer: asyncio.TimerHandle | None = None
        # Whether the last claim may have left due rows behind for want of room (it took
        # all it asked for, or asked for less than a batch): then freed slots wake the
        # claims. Otherwise it took everything due, and only new work (a commit's wake)
        # or the due-time recheck can bring more; a completion waking it found nothing.
        self._claim_short = True
        # Probes that succeeded: once their results are recorded (the circuit closed),
        # the rows waiting behind the circuit are claimable, and the claims are woken.
        self._probes_done: set[int] = set()
        self._due_checked = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sender: Sender | None = None
        # PostgreSQL: the loop's own connections for the one-statement cycles (``_cycle``)
        self._pg: _LoopConnections | None = None

    # waking ---------------------------------------------------------------
    def wake(self) -> None:
        """Thread-safe: called from committing threads and the LISTEN task."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._record_wake.set()

    # main loop ------------------------------------------------------------
    async def run(self) -> None:
        """Run until ``stop()``; then finish or release in-flight work and return."""
        self._loop = asyncio.get_running_loop()
        self.sender = Sender(self.settings)
        if not self.store.db.is_sqlite:
            self._pg = _LoopConnections(
                claims=self.store.db.async_statements(), records=self.store.db.async_statements()
            )
        self.store.db.add_wake_listener(self.wake)
        await asyncio.to_thread(workers.register, self.store, self.worker_id)
        helpers = [asyncio.create_task(self._housekeeping(), name="stagehook-housekeeping")]
        # commits of other processes (PostgreSQL's NOTIFY, SQLite's wake board)
        helpers.append(asyncio.create_task(self.store.db.listen(self.wake, self._stop)))
        try:
            if self.store.db.is_sqlite:
                await self._cycle_loop(self._wake, record=True, claim=True)
            else:
                # both loops end before the shutdown closes their connections: one that
                # fails stops the other, and its error is raised once both are done
                ended = await asyncio.gather(
                    self._stopping_on_error(
                        self._cycle_loop(self._record_wake, record=True, claim=False)
                    ),
                    self._stopping_on_error(self._cycle_loop(self._wake, record=False, claim=True)),
                    return_exceptions=True,
                )
                for outcome in ended:
                    if isinstance(outcome, BaseException):
                        raise outcome
        finally:
            await self._shutdown(helpers)

    async def _stopping_on_error(self, loop: Coroutine[Any, Any, None]) -> None:
        """One of two loops: if it fails, the other stops too (and the error propagates)."""
        try:
            await loop
        except BaseException:
            self.stop()
            raise

    async def _cycle_loop(self, wake: asyncio.Event, *, record: bool, claim: bool) -> None:
        """Record what finished and/or claim what is due, one transaction per cycle.

        A cycle starts as soon as the last one committed if enough finished or work was
        committed meanwhile, so under load each transaction carries every result and
        every free slot that accumulated while the previous one ran (group commit).

        SQLite has one writer and an fsync per commit, so one loop does both in one
        transaction. PostgreSQL runs transactions side by side: there one loop records
        and another claims, and neither waits for the other's commit.
        """
        backoff = BACKOFF_START
        while not self._stop.is_set():
            wake.clear()
            results: list[Recorded] = []
            if record:
                if self._record_timer is not None:
                    self._record_timer.cancel()
                    self._record_timer = None
                results, self._results = self._results, []
            room = 0
            if claim:
                room = max(0, min(self._free(), self.settings.claim_batch))
                self._claim_short = True
            if not results and room <= 0:
                # nothing finished, or every slot is busy: deliveries wake the loop
                await self._sleep(wake, self.settings.poll_interval)
                continue
            try:
                claimed = await self._cycle(results, room, dict(self._held))
            except asyncio.CancelledError:
                self._results = results + self._results  # for the shutdown's flush
                raise
            except Exception as exc:
                # The database went away (restart, failover): keep the results, back off.
                # They wait in memory rather than being dropped, so an outage shorter
                # than the lease causes no second delivery.
                self._results = results + self._results
                log.warning(
                    "could not %s (%s); retrying in %.1fs",
                    "record results and claim"
                    if record and claim
                    else ("record results" if record else "claim"),
                    _first_line(exc),
                    backoff,
                )
                await self._sleep(self._stop, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_START
            if record and self._probes_done:
                recorded = {r.delivery_id for r in results}
                if recorded & self._probes_done:
                    self._probes_done -= recorded
                    self._wake.set()  # the circuit is closed now: claim behind it
            if claim:
                self._claim_short = len(claimed) >= room or room < self.settings.claim_batch
            self._start(claimed)
            free = self._free()
            if claim and free > 0 and len(claimed) == room:
                continue  # a full batch and room for more: probably more due right now
            if wake.is_set():
                continue  # deliveries finished, or work was committed, meanwhile
            timeout = self.settings.poll_interval
            if claim:
                try:
                    timeout = await self._wait_for(free, len(claimed))
                except Exception as exc:  # the database went away between two cycles
                    log.warning(
                        "could not read when work is due (%s); retrying in %.1fs",
                        _first_line(exc),
                        backoff,
                    )
                    timeout, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
            await self._sleep(wake, timeout)

    @staticmethod
    async def _sleep(event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout)

    def _free(self) -> int:
        """How many more rows a claim may take."""
        # read live: the caps are settings a running dispatcher follows
        held = HELD_PER_SLOT * self.settings.max_in_flight
        return held - len(self._inflight) - len(self._ready)

    def _held_per_url(self) -> int:
        """Rows one URL may hold (ready or in flight): twice its cap in flight."""
        return 2 * self.settings.max_in_flight_per_url

    def _start(self, claimed: list[Claimed]) -> None:
        for item in claimed:
            self._held[item.url] += 1
            self._ready.append(item)
        self._pump()

    def _pump(self) -> None:
        """Start ready rows while slots are free, skipping URLs at their cap."""
        if self._stop.is_set():
            return  # shutting down: what is not sent yet is released with our leases
        waiting: list[Claimed] = []
        while self._ready and len(self._inflight) < self.settings.max_in_flight:
            item = self._ready.popleft()
            if self._sending[item.url] >= self.settings.max_in_flight_per_url:
                waiting.append(item)
                continue
            self._sending[item.url] += 1
            self._inflight[item.id] = asyncio.create_task(self._deliver(item))
        self._ready.extendleft(reversed(waiting))

    async def _cycle(
        self, results: list[Recorded], want: int, busy: dict[str, int]
    ) -> list[Claimed]:
        """A cycle's database work: record ``results``, then lease up to ``want`` due rows.

        On PostgreSQL the cycles that are one statement run on the loop, on connections
        of its own without a thread hop (store/async_statements.py; each statement a
        transaction of its own, no BEGIN and COMMIT round trips): a claim
        (``claim_due_alone``) and a batch of successes (``record_successes``). The rest
        runs on a worker thread in one transaction (``_exchange``): failures (their
        attempt, retry time and receiver health commit together), a claim that meets a
        due probe (its lease and the next probe's time), and every SQLite cycle."""
        if self._pg is not None:
            now = self.store.clock.now()
            if want > 0 and not results:
                claimed = await claim.claim_due_alone(
                    self._pg.claims, self.worker_id, now=now, **self._claim_terms(want, busy)
                )
                if claimed is not None:
                    return self._opened(claimed)
            elif want <= 0 and all(r.success for r in results):
                await record.record_successes(self._pg.records, self.worker_id, results, now=now)
                return []
        return await asyncio.to_thread(self._exchange, results, want, busy)

    def _exchange(self, results: list[Recorded], want: int, busy: dict[str, int]) -> list[Claimed]:
        """Record ``results``, then lease up to ``want`` due rows, in one write
        transaction (on a worker thread: the caller is ``_cycle``)."""
        db = self.store.db
        with db.write(urgent=True) as conn:
            now = self.store.clock.now()
            if results:
                record.record_attempts(
                    conn,
                    self.worker_id,
                    results,
                    now=now,
                    failure_threshold=self.settings.circuit_failure_threshold,
                    probe_interval=self.settings.circuit_probe_interval,
                    disable_after=self.settings.disable_after_failing_seconds,
                )
                if any(r.status == DeliveryStatus.RETRYING for r in results):
                    db.notify(conn)
            if want <= 0:
                return []
            claimed = claim.claim_due(
                conn,
                self.worker_id,
                now=now,
                probe_interval=self.settings.circuit_probe_interval,
                **self._claim_terms(want, busy),
            )
        return self._opened(claimed)

    def _claim_terms(self, want: int, busy: dict[str, int]) -> claim.ClaimTerms:
        return {
            "lease_seconds": self.settings.lease_seconds,
            "limit": want,
            "per_url": self._held_per_url(),
            "busy": busy,
        }

    def _opened(self, claimed: list[Claimed]) -> list[Claimed]:
        """Secrets are stored encrypted; they exist in clear only in memory, to sign."""
        box = secret_box(self.settings)
        return [replace(c, secrets=tuple(box.open(s) for s in c.secrets)) for c in claimed]

    async def _wait_for(self, free: int, claimed: int) -> float:
        """How long the loop may sleep when nothing woke it.

        Idle, until the next row is due. With deliveries in flight their completions
        wake the loop; the due time is asked again at most every DUE_RECHECK, so a retry
        that comes due while every request in flight is slow is not missed.
        """
        if free <= 0:
            return self.settings.poll_interval  # every slot busy: completions wake us
        since = asyncio.get_running_loop().time() - self._due_checked
        if self._inflight and since < DUE_RECHECK:
            return DUE_RECHECK - since
        self._due_checked += since
        timeout = await self._idle_timeout(claimed)
        # Rows can become claimable with no wake-up while deliveries are in flight (a
        # URL's cap, rows released by a worker that left): look again within the recheck.
        return min(timeout, DUE_RECHECK) if self._inflight else timeout

    async def _idle_timeout(self, claimed: int) -> float:
        def due() -> float | None:
            with self.store.db.read() as conn:
                return claim.next_due(conn, self.store.clock.now())

        if self._pg is not None:  # one statement, on the loop as the claims
            soonest = await claim.next_due_alone(self._pg.claims, self.store.clock.now())
        else:
            soonest = await asyncio.to_thread(due)
        if soonest is None:
            return self.settings.poll_interval
        wait = soonest - self.store.clock.now()
        # Due work we could not take (per-URL cap, a race) waits for a completion.
        floor = 0.05 if claimed == 0 else 0.0
        return min(max(wait, floor), self.settings.poll_interval)

    # one delivery ---------------------------------------------------------
    async def _deliver(self, item: Claimed) -> None:
        assert self.sender is not None
        try:
            started_at = self.store.clock.now()
            headers = self.sender.headers(item.secrets, item.event_uid, item.body)
            result = await self.sender.send(item.url, headers, item.body)
            self._record(item, result, headers, started_at)
        finally:
            self._inflight.pop(item.id, None)
            # rows of this URL may have been left behind at its cap (``claim_due``)
            at_cap = self._held[item.url] >= self._held_per_url()
            for count in (self._sending, self._held):
                count[item.url] -= 1
                if count[item.url] <= 0:
                    del count[item.url]
            self._pump()
            idle = not self._inflight
            if len(self._results) >= self._wake_after or idle:
                self._record_wake.set()
            elif self._results and self._record_timer is None and self._loop is not None:
                self._record_timer = self._loop.call_later(RECORD_WITHIN, self._record_wake.set)
            if (self._claim_short or at_cap) and (self._free() >= self._wake_after or idle):
                self._wake.set()

    def _record(
        self,
        item: Claimed,
        result: AttemptResult,
        headers: dict[str, str],
        started_at: float,
    ) -> None:
        now = self.store.clock.now()
        decision = decide(
            result,
            attempts_made=item.attempts + 1,
            retry_base=item.retry_base,
            schedule=self._schedule,
            jitter=self.settings.retry_jitter,
            now=now,
            rng=self.rng,
        )
        metrics.DELIVERIES.labels(decision.status).inc()
        if item.probe and result.success:
            self._probes_done.add(item.id)
        metrics.ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
        if result.success:
            metrics.LAG_SECONDS.observe(max(0.0, now - item.created_at))
        self._results.append(
            Recorded(
                delivery_id=item.id,
                webhook_id=item.webhook_id,
                url=item.url,
                attempt_no=item.attempts + 1,
                started_at=started_at,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error_class=result.error_class,
                error=result.error,
                response_excerpt=result.response_excerpt,
                request_headers=headers,
                success=result.success,
                status=decision.status,
                next_attempt_at=decision.next_attempt_at,
                disable_reason=decision.disable_reason,
            )
        )

    # background helpers ---------------------------------------------------
    async def _flush(self, deadline: float) -> None:
        """On shutdown: record what has finished, trying again until ``deadline``.

        Past it we give up and the leases expire, which sends those events again:
        at-least-once, never lost.
        """
        loop = asyncio.get_running_loop()
        backoff = BACKOFF_START
        while self._results:
            batch, self._results = self._results, []
            try:
                await self._cycle(batch, 0, {})
                backoff = BACKOFF_START
            except Exception as exc:
                self._results = batch + self._results
                if loop.time() + backoff > deadline:
                    log.error("gave up recording %d results: %s", len(batch), _first_line(exc))
                    return
                log.warning(
                    "could not record %d results (%s); retrying in %.1fs",
                    len(batch),
                    _first_line(exc),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _housekeeping(self) -> None:
        beat = self.settings.heartbeat_seconds
        since_purge = PURGE_SECONDS
        judge = False  # the first beat only announces us; later ones may judge others
        while True:
            try:
                await asyncio.to_thread(
                    workers.heartbeat, self.store, self.worker_id, 3 * beat, judge=judge
                )
                judge = True
                if since_purge >= PURGE_SECONDS:
                    since_purge = 0.0
                    await asyncio.to_thread(purge, self.store)
            except Exception as exc:
                judge = False
                log.warning("housekeeping failed (%s); trying again shortly", _first_line(exc))
            await asyncio.sleep(beat)
            since_purge += beat

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        self.store.db.remove_wake_listener(self.wake)
        pending = list(self._inflight.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await self._flush(deadline=loop.time() + self.settings.shutdown_grace_seconds)
        try:
            await asyncio.to_thread(workers.deregister, self.store, self.worker_id)
        except Exception:
            log.exception("could not release leases on shutdown; they expire by themselves")
        if self.sender is not None:
            await self.sender.close()
        if self._pg is not None:
            for connection in self._pg:
                await connection.close()
