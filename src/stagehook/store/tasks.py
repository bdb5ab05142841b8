"""Tasks, label rows and history: applying workflow outcomes in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict, Unpack

from psycopg.errors import DeadlockDetected, SerializationFailure
from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from stagehook.errors import NotFound, Unavailable
from stagehook.store import parsed, task_counts
from stagehook.store.access import (
    Principal,
    Role,
    may_override,
    require_assignee,
    require_role_at_stage,
)
from stagehook.store.auth_cache import EPOCH_SQL, require_epoch
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.json_rows import PAGES_JOIN_IN_SQL, as_utf8, joined, json_object
from stagehook.store.label_checks import require_complete
from stagehook.store.outbox.write import (
    Hook,
    OutboxRows,
    insert_rows,
    outbox_ctes,
    outbox_rows,
)
from stagehook.store.outbox.write import cte_params as outbox_cte_params
from stagehook.store.prepared import Prepared, json_keys, json_param, json_rows
from stagehook.store.projects_read import load_workflow
from stagehook.store.tables import label_rows, task_history, tasks
from stagehook.workflow import task_machine
from stagehook.workflow.graph import initial_stage
from stagehook.workflow.stages import Action, TaskStatus

# Statements of the submit path, compiled once and run by the driver (store/prepared.py).
_MOVE_COLUMNS = ("task_uuid", "stage_uuid", "status", "assignee", "updated_at")
_MOVE = Prepared.sql(
    "UPDATE tasks SET stage_uuid = :stage_uuid, status = :status, assignee = :assignee, "
    "updated_at = :updated_at WHERE task_uuid = :task_uuid"
)
_HISTORY_COLUMNS = (
    "task_uuid",
    "project_hash",
    "at",
    "actor",
    "action",
    "from_stage",
    "to_stage",
    "from_status",
    "to_status",
    "comment",
)
_HISTORY = Prepared(insert(task_history).values({c: bindparam(c) for c in _HISTORY_COLUMNS}))
_STATE_COLUMNS = ("task_uuid", "data_hash", "label_hash", "stage_uuid", "status", "assignee")
_STATES = select(*(tasks.c[c] for c in _STATE_COLUMNS)).where(
    tasks.c.project_hash == bindparam("project_hash"),
    tasks.c.task_uuid.in_(bindparam("task_uuids", expanding=True)),
)
_STATES_LOCKED = _STATES.with_for_update()
#: The one-task case, prepared: an IN list cannot be.
_STATE = select(*(tasks.c[c] for c in _STATE_COLUMNS)).where(
    tasks.c.project_hash == bindparam("project_hash"),
    tasks.c.task_uuid == bindparam("task_uuid"),
)
_STATE_ONE = Prepared(_STATE)


def _batch_read(dialect: str, *, lock: bool = True) -> str:
    """What a batch at a stage reads, in one statement: the workflow as stored, the
    project's live webhooks, its ontology as stored, the tasks (with ``lock``, locked on
    PostgreSQL, in task order), the lists as JSON arrays of rows, and the access epoch
    (``auth_cache.require_epoch``: a caller authorized from the cache alone is checked
    against it)."""
    postgresql = dialect == "postgresql"
    lock = lock and postgresql
    # SQLite's planner would read the project's tasks by ``ix_tasks_project_seq`` and
    # filter (it does not know the list is short): ``+`` leaves it the task_uuid index
    project = "project_hash" if postgresql else "+project_hash"
    uuids = (  # a JSON text: see prepared.json_rows
        "SELECT json_array_elements_text(CAST(:task_uuids AS json))"
        if postgresql
        else "SELECT value FROM json_each(:task_uuids)"
    )

    def rows_of(columns: str) -> str:
        if postgresql:
            return f"CAST(json_agg(json_build_array({columns})) AS TEXT)"
        return f"json_group_array(json_array({columns}))"

    return f"""SELECT CAST(p.workflow AS TEXT),
  (SELECT {rows_of("w.stage_uuid, w.webhook_id, w.url, w.enabled")} FROM webhooks w
    WHERE w.project_hash = p.project_hash AND w.deleted_at IS NULL),
  (SELECT CAST(o.structure AS TEXT) FROM ontologies o WHERE o.ontology_hash = p.ontology_hash),
  (SELECT {rows_of(", ".join("t." + c for c in _STATE_COLUMNS))} FROM (
    SELECT {", ".join(_STATE_COLUMNS)} FROM tasks
    WHERE {project} = :project_hash AND task_uuid IN ({uuids})
    {"ORDER BY task_uuid FOR UPDATE" if lock else ""}) t),
  ({EPOCH_SQL})
FROM projects p WHERE p.project_hash = :project_hash"""


_BATCH_READ = Prepared(text(_batch_read("sqlite")), postgresql=text(_batch_read("postgresql")))
#: PostgreSQL's optimistic path (``apply_stage_batch``): no row lock, the write checks.
_BATCH_READ_UNLOCKED = Prepared(text(_batch_read("postgresql", lock=False)))

#: The writes of one or several requests' transitions as one PostgreSQL statement: the
#: task rows, their history, the stage counts (store/task_counts.py), the events and
#: their deliveries (store/outbox/write.py), each a ``WITH`` clause over one JSON
#: parameter. psycopg costs about 50 µs of CPU per statement here, more than PostgreSQL
#: spends running most of them; SQLite's driver costs a few µs, and SQLite has no
#: ``INSERT`` in ``WITH``: it runs the statements one by one (``_MOVE``, ``_HISTORY``, ...).
#:
#: Every row carries the ``item`` (the request) it belongs to. Each task moves only from
#: the state its transition was computed from (a task another transaction moved
#: meanwhile is not touched), and a request's other rows are written only if its task
#: moved. The statement returns the item of every task that moved.
_MOVE_TYPES = (
    ("item", "integer"),
    *zip(_MOVE_COLUMNS, ("text",) * 4 + ("float8",), strict=True),
    ("was_stage", "text"),
    ("was_status", "text"),
    ("was_assignee", "text"),
)
_HISTORY_TYPES = (
    ("item", "integer"),
    *((name, "float8" if name == "at" else "text") for name in _HISTORY_COLUMNS),
)
_KEPT = "r.item IN (SELECT item FROM moved)"
_WRITE_IN_ONE = Prepared(
    text(
        "WITH "
        + ",\n".join(
            (
                "moved AS (UPDATE tasks SET stage_uuid = r.stage_uuid, status = r.status, "
                "assignee = r.assignee, updated_at = r.updated_at FROM "
                + json_rows("moved", _MOVE_TYPES)
                + f" WHERE tasks.task_uuid = ANY({json_keys('moved', 'task_uuid', 'text')})"
                " AND tasks.task_uuid = r.task_uuid AND tasks.stage_uuid = r.was_stage"
                " AND tasks.status = r.was_status"
                " AND tasks.assignee IS NOT DISTINCT FROM r.was_assignee RETURNING r.item)",
                f"recorded AS (INSERT INTO task_history ({', '.join(_HISTORY_COLUMNS)}) "
                f"SELECT {', '.join('r.' + c for c in _HISTORY_COLUMNS)} "
                f"FROM {json_rows('recorded', _HISTORY_TYPES)} WHERE {_KEPT})",
                task_counts.upsert_cte(_KEPT),
                *outbox_ctes(_KEPT),
            )
        )
        + "\nSELECT item FROM moved"
    )
)


class TaskMoved(Exception):
    """A task was no longer in the state a transition was computed from (another
    transaction moved it first): nothing of that request was written (in a transaction,
    which is to be rolled back, nothing at all). Read again."""


def _state(row: Sequence[Any]) -> task_machine.TaskState:
    """A row of ``_STATE_COLUMNS``."""
    task_uuid, data_hash, label_hash, stage_uuid, status, assignee = row
    return task_machine.TaskState(
        task_uuid, data_hash, label_hash, stage_uuid, TaskStatus(status), assignee
    )


def task_dict(state: task_machine.TaskState) -> dict[str, Any]:
    return {
        "task_uuid": state.task_uuid,
        "data_hash": state.data_hash,
        "label_hash": state.label_hash,
        "stage_uuid": state.stage_uuid,
        "status": state.status.value,
        "assignee": state.assignee,
    }


class _Writes(NamedTuple):
    """A transition's rows, as the tables store them; nothing written yet."""

    outcome: task_machine.Outcome
    moves: list[dict[str, Any]]
    history: list[dict[str, Any]]
    deltas: list[tuple[task_counts.Key, int]]
    outbox: OutboxRows


def _writes(
    conn: Connection,
    store: Store,
    project_hash: str,
    outcome: task_machine.Outcome,
    actor: str,
    hooks: Sequence[Hook] | None = None,
) -> _Writes:
    now = store.clock.now()
    moves = [
        {
            "task_uuid": t.after.task_uuid,
            "stage_uuid": t.after.stage_uuid,
            "status": t.after.status.value,
            "assignee": t.after.assignee,
            "updated_at": now,
        }
        for t in outcome.transitions
    ]
    history = [
        {
            "task_uuid": t.after.task_uuid,
            "project_hash": project_hash,
            "at": now,
            "actor": actor,
            "action": t.action,
            "from_stage": t.before.stage_uuid,
            "to_stage": t.after.stage_uuid,
            "from_status": t.before.status.value,
            "to_status": t.after.status.value,
            "comment": t.comment,
        }
        for t in outcome.transitions
    ]
    deltas = [
        delta
        for t in outcome.transitions
        for delta in task_counts.moved(
            (t.before.stage_uuid, t.before.status.value),
            (t.after.stage_uuid, t.after.status.value),
        )
    ]
    outbox = outbox_rows(conn, store, project_hash, outcome.events, hooks)
    return _Writes(outcome, moves, history, deltas, outbox)


def _write_in_one(
    conn: Connection, store: Store, project_hash: str, items: Sequence[tuple[int, _Writes]]
) -> list[int]:
    """PostgreSQL: the rows of several requests (``(item, rows)``) in one statement
    (``_WRITE_IN_ONE``); returns the item of every task that moved."""
    moves = [
        {
            "item": item,
            **move,
            "was_stage": t.before.stage_uuid,
            "was_status": t.before.status.value,
            "was_assignee": t.before.assignee,
        }
        for item, w in items
        for move, t in zip(w.moves, w.outcome.transitions, strict=True)
    ]
    # tasks locked in task order, as the locked read locks them: never crosswise
    moves.sort(key=lambda move: str(move["task_uuid"]))
    if any(w.outbox.deliveries for _, w in items):
        store.db.notify(conn)
    rows = _WRITE_IN_ONE.rows(
        conn,
        {
            "moved": json_param(moves),
            "recorded": json_param([{"item": item, **h} for item, w in items for h in w.history]),
            **task_counts.cte_params(
                conn, project_hash, [(item, key, n) for item, w in items for key, n in w.deltas]
            ),
            **outbox_cte_params([(item, w.outbox) for item, w in items]),
        },
    )
    return [row[0] for row in rows]


def _apply(
    conn: Connection,
    store: Store,
    project_hash: str,
    outcome: task_machine.Outcome,
    actor: str,
    hooks: Sequence[Hook] | None = None,
) -> list[str]:
    """Write ``outcome``: the tasks, their history, the stage counts, the events and
    their deliveries, in the caller's transaction; returns the event uids."""
    w = _writes(conn, store, project_hash, outcome, actor, hooks)
    if conn.dialect.name == "postgresql":
        if conn.connection.driver_connection.autocommit:  # type: ignore[union-attr]
            # the UPDATE would commit the tasks that did move even when another did not
            raise ValueError("a transition is written in a transaction (or by _submit_group)")
        if w.moves and len(_write_in_one(conn, store, project_hash, [(0, w)])) < len(w.moves):
            raise TaskMoved(f"a task of project {project_hash} moved meanwhile")
        return w.outbox.uids
    _MOVE.run_many(conn, w.moves)
    _HISTORY.run_many(conn, w.history)
    task_counts.add(conn, project_hash, w.deltas)
    insert_rows(conn, store, w.outbox)
    return w.outbox.uids


def create_tasks(
    conn: Connection,
    store: Store,
    project_hash: str,
    data_hashes: Sequence[str],
    principal: Principal,
) -> None:
    """One task and one empty label row per data unit, at the first stage after START."""
    if not data_hashes:
        return
    workflow = load_workflow(conn, project_hash)
    stage_uuid = initial_stage(workflow)
    now = store.clock.now()
    rows = [
        {
            "task_uuid": new_hash(),
            "project_hash": project_hash,
            "data_hash": data_hash,
            "label_hash": new_hash(),
            "stage_uuid": stage_uuid,
            "status": TaskStatus.NEW.value,
            "assignee": None,
            "updated_at": now,
        }
        for data_hash in data_hashes
    ]
    conn.execute(insert(tasks), rows)
    task_counts.add(conn, project_hash, [((stage_uuid, TaskStatus.NEW.value), len(rows))])
    conn.execute(
        insert(label_rows),
        [
            {
                "label_hash": r["label_hash"],
                "project_hash": project_hash,
                "data_hash": r["data_hash"],
                "labels": {},
                "version": 0,
                "updated_at": now,
            }
            for r in rows
        ],
    )
    conn.execute(
        insert(task_history),
        [
            {
                "task_uuid": r["task_uuid"],
                "project_hash": project_hash,
                "at": now,
                "actor": principal.username,
                "action": "CREATE",
                "from_stage": None,
                "to_stage": stage_uuid,
                "from_status": None,
                "to_status": TaskStatus.NEW.value,
            }
            for r in rows
        ],
    )


def list_tasks(
    store: Store,
    project_hash: str,
    *,
    stage_uuid: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    filters = (bool(stage_uuid), bool(status))
    params = _page_params(project_hash, stage_uuid, status, cursor, limit + 1)
    with store.db.read_many() as conn:
        rows = conn.execute(_PAGES[filters], params).all()
    page = [dict(zip(_PUBLIC, row[1:], strict=True)) for row in rows[:limit]]
    return page, encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None


class PageOfTasks(TypedDict):
    """Which page of a project's tasks: ``list_tasks``'s filters."""

    stage_uuid: str | None
    status: str | None
    limit: int
    cursor: str | None


def list_tasks_json(
    store: Store, project_hash: str, **page: Unpack[PageOfTasks]
) -> tuple[list[bytes], str | None]:
    """``list_tasks`` as the API sends it: the tasks' JSON objects (rendered by the
    database, store/json_rows.py) as UTF-8 pieces to join with commas, and the next
    cursor. A piece is one task on SQLite, the whole page on PostgreSQL."""
    limit, filters = page["limit"], (bool(page["stage_uuid"]), bool(page["status"]))
    params = _page_params(project_hash, page["stage_uuid"], page["status"], page["cursor"], limit)
    with store.db.read_many() as conn:
        if conn.dialect.name not in PAGES_JOIN_IN_SQL:
            # the driver's rows: (seq, the task's JSON as UTF-8 bytes)
            rows = _PAGES_BYTES[filters].rows(conn, {**params, "limit": limit + 1})
            more = len(rows) > limit
            return [r[1] for r in rows[:limit]], (
                encode_cursor(rows[limit - 1][0]) if more else None
            )
        # one row, the page joined in order: 500 rows cost the driver one value
        items, last, more = conn.execute(_JOINED[filters], params).one()
    return [items.encode()] if items else [], encode_cursor(last) if more else None


def _page_params(
    project_hash: str, stage_uuid: str | None, status: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    return {
        "project_hash": project_hash,
        "after": decode_cursor(cursor),
        "limit": limit,
        "stage_uuid": stage_uuid,
        "status": status,
    }


def _page_query(
    by_stage: bool, by_status: bool, as_json: bool, *, as_bytes: bool = False
) -> Select[Any]:
    columns = [tasks.c[name] for name in _PUBLIC]
    as_text = json_object(*columns)
    rendered: list[ColumnElement[Any]] = [as_utf8(as_text) if as_bytes else as_text]
    query = select(tasks.c.seq, *(rendered if as_json else columns))
    where = _filters(tasks, bindparam("after"), by_stage, by_status)
    return query.where(*where).order_by(tasks.c.seq).limit(bindparam("limit"))


def _joined_query(by_stage: bool, by_status: bool) -> Select[str, Any, bool]:
    """The page joined, its last seq, and whether a task follows it (the next cursor)."""
    page = _page_query(by_stage, by_status, True).subquery("page")
    last = func.max(page.c.seq)
    after = tasks.alias("after_page")
    more = select(after.c.seq).where(*_filters(after, last, by_stage, by_status)).exists()
    return select(joined(page.c[1], page.c.seq), last, more)


def _filters(
    table: Any, after: ColumnElement[Any], by_stage: bool, by_status: bool
) -> list[ColumnElement[bool]]:
    where = [table.c.project_hash == bindparam("project_hash"), table.c.seq > after]
    if by_stage:
        where.append(table.c.stage_uuid == bindparam("stage_uuid"))
    if by_status:
        where.append(table.c.status == bindparam("status"))
    return where


#: A task as the API shows it (``task_dict``), and a page query per filter combination:
#: as columns (``list_tasks``), joined into one text where the database keeps the order
#: (PostgreSQL), and else (SQLite) as rows of (seq, the task's JSON as UTF-8 bytes), run
#: on the driver's cursor: no SQLAlchemy row per task, and the page is one ``b",".join``
#: that is never decoded or encoded again.
_PUBLIC = ("task_uuid", "data_hash", "label_hash", "stage_uuid", "status", "assignee")
_BOTH = (False, True)
_PAGES = {(s, st): _page_query(s, st, False) for s in _BOTH for st in _BOTH}
_JOINED = {(s, st): _joined_query(s, st) for s in _BOTH for st in _BOTH}
_PAGES_BYTES = {
    (s, st): Prepared(_page_query(s, st, True, as_bytes=True)) for s in _BOTH for st in _BOTH
}


def _load_states(
    conn: Connection, project_hash: str, task_uuids: Sequence[str], *, lock: bool = True
) -> dict[str, task_machine.TaskState]:
    """Load tasks; on PostgreSQL lock them so concurrent batches serialise per task."""
    if lock and conn.dialect.name != "sqlite":
        params = {"project_hash": project_hash, "task_uuids": list(task_uuids)}
        return {row[0]: _state(row) for row in conn.execute(_STATES_LOCKED, params)}
    if len(task_uuids) == 1:
        one = _STATE_ONE.rows(conn, {"project_hash": project_hash, "task_uuid": task_uuids[0]})
        return {row[0]: _state(row) for row in one}
    params = {"project_hash": project_hash, "task_uuids": list(task_uuids)}
    return {row[0]: _state(row) for row in conn.execute(_STATES, params)}


@dataclass(frozen=True)
class StageBatch:
    """Actions at one stage by one caller, applied all or nothing."""

    project_hash: str
    stage_uuid: str
    requests: Sequence[task_machine.ActionRequest]
    principal: Principal
    role: Role
    #: The access epoch ``principal`` and ``role`` were cached under, when the caller
    #: did not read it: the batch's own read checks it (``auth_cache.require_epoch``).
    epoch: int | None = None


def apply_stage_actions(
    store: Store,
    project_hash: str,
    stage_uuid: str,
    requests: Sequence[task_machine.ActionRequest],
    principal: Principal,
    role: Role,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply a batch at one stage, all or nothing; returns new task states and event uids."""
    batch = StageBatch(project_hash, stage_uuid, requests, principal, role)
    return _applied(*store.db.write_grouped(_stage_actions(store, batch)))


async def apply_stage_batch(
    store: Store, batch: StageBatch
) -> tuple[list[dict[str, Any]], list[str]]:
    """``apply_stage_actions`` for the event loop: no worker thread waits for the commit
    (``Database.write_grouped_async``).

    On PostgreSQL a batch of one task (every single submit) is applied optimistically,
    together with the other single-task batches that arrive at the same moment
    (store/statement_groups.py): one statement reads their tasks without a lock, one
    statement moves each task only from the state it was read in and writes the rest of
    a batch only if its task moved (``_WRITE_IN_ONE``), each statement a transaction of
    its own. If another transaction moved the task first, nothing of the batch was
    written: it reads again (``OPTIMISTIC_TRIES`` times), then takes the row lock as a
    larger batch always does.
    """
    if not store.db.is_sqlite and len(batch.requests) == 1:
        groups = store.db.statement_groups(_submit_group, name="stagehook-write-group")
        for _ in range(OPTIMISTIC_TRIES):
            try:
                return _applied(*await groups.run((store, batch)))
            except TaskMoved:
                continue
    return _applied(*await store.db.write_grouped_async(_stage_actions(store, batch)))


#: How often a single-task batch reads again when its task moved meanwhile.
OPTIMISTIC_TRIES = 3


def _applied(
    outcome: task_machine.Outcome, uids: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    return [task_dict(t.after) for t in outcome.transitions], uids


class _Read(NamedTuple):
    """What a batch at a stage reads (``_BATCH_READ``), parsed."""

    graph: Any
    hooks: list[Hook]
    structure: Any
    states: dict[str, task_machine.TaskState]
    epoch: int


def _read(conn: Connection, project_hash: str, task_uuids: Sequence[str], *, lock: bool) -> _Read:
    sent = (_BATCH_READ if lock else _BATCH_READ_UNLOCKED).send(
        conn, {"project_hash": project_hash, "task_uuids": json.dumps(list(task_uuids))}
    )
    read = sent.first()
    if read is None:
        raise NotFound(f"project {project_hash} does not exist")
    graph, hooks_json, structure, states_json, epoch = read
    hooks = [Hook(s, h, url, bool(on)) for s, h, url, on in json.loads(hooks_json or "[]")]
    states = {row[0]: _state(row) for row in json.loads(states_json or "[]")}
    return _Read(graph, hooks, structure, states, int(epoch))


def _decide(conn: Connection, batch: StageBatch, read: _Read) -> task_machine.Outcome:
    """``batch``'s outcome from what was read (its checks may read more: an assignee's
    membership, the labels a submit requires)."""
    require_epoch(batch.epoch, read.epoch)
    project_hash, stage_uuid, requests = batch.project_hash, batch.stage_uuid, batch.requests
    principal, role = batch.principal, batch.role
    workflow = parsed.workflow(read.graph, {h.stage_uuid: h.url for h in read.hooks})
    stage = workflow.stage(stage_uuid)
    if stage is None:
        raise NotFound(f"stage {stage_uuid} is not in this project's workflow")
    require_role_at_stage(role, stage)
    for request in requests:
        if request.action == Action.ASSIGN:
            require_assignee(conn, principal, role, project_hash, stage, request.assignee)
    actor = task_machine.Actor(principal.username, may_override=may_override(role))
    wanted = {r.task_uuid for r in requests}
    states = {k: v for k, v in read.states.items() if k in wanted}
    outcome = task_machine.apply_actions(
        workflow, project_hash, stage_uuid, states, requests, actor
    )
    require_complete(
        conn,
        None if read.structure is None else parsed.index(read.structure),
        [t.before.label_hash for t in outcome.transitions if t.action == Action.SUBMIT],
    )
    return outcome


def _stage_actions(
    store: Store, batch: StageBatch
) -> Callable[[Connection], tuple[task_machine.Outcome, list[str]]]:
    """A batch in a write transaction: its tasks read (and locked, on PostgreSQL) in one
    statement, everything written (on PostgreSQL in one statement, ``_WRITE_IN_ONE``)."""

    def work(conn: Connection) -> tuple[task_machine.Outcome, list[str]]:
        read = _read(conn, batch.project_hash, [r.task_uuid for r in batch.requests], lock=True)
        outcome = _decide(conn, batch, read)
        actor = batch.principal.username
        return outcome, _apply(conn, store, batch.project_hash, outcome, actor, read.hooks)

    return work


#: A single-task batch waiting for its group, and what it comes back as.
_GroupItem = tuple[Store, StageBatch]
_GroupResult = tuple[task_machine.Outcome, list[str]]


def _submit_group(
    conn: Connection, items: Sequence[_GroupItem]
) -> list[_GroupResult | BaseException]:
    """PostgreSQL: single-task batches that arrived together (store/statement_groups.py),
    on a connection where each statement is a transaction of its own: per project one
    read and one write for all of them. Each batch comes back as its outcome, or as its
    own error (``TaskMoved`` if its task moved meanwhile: it is tried again). A lost
    connection is the error of every batch not yet written; what was written stands. A
    connection the group's first read finds dead (dropped by the server while it sat in
    the pool) renews the pool, and every batch reads again."""
    results: list[_GroupResult | BaseException | None] = [None] * len(items)
    by_project: dict[str, list[int]] = {}
    tasks_seen: set[str] = set()
    for i, (_, batch) in enumerate(items):
        task_uuid = batch.requests[0].task_uuid
        if task_uuid in tasks_seen:  # one statement cannot tell which of two moves won
            results[i] = TaskMoved(f"task {task_uuid} is in this group twice")
            continue
        tasks_seen.add(task_uuid)
        by_project.setdefault(batch.project_hash, []).append(i)
    unwritten: Exception = Unavailable("the database connection was lost")
    for n, (project_hash, members) in enumerate(by_project.items()):
        try:
            _submit_project(conn, project_hash, items, members, results)
        except Exception as failed:  # the read or the write: nothing of them was written
            exc = failed.error if isinstance(failed, _NotRead) else failed
            if n == 0 and isinstance(failed, _NotRead) and _lost(conn, exc):
                # The pooled connection was dead before the group used it (the server
                # restarted or dropped it): nothing was written, and the pool's other
                # idle connections are as dead. Start it afresh (as the event loop's
                # epoch read does, store/loop_reads.py); every batch reads again.
                conn.engine.dispose(close=False)
                unwritten = TaskMoved("the database connection was lost; read again")
                break
            error = _batch_error(exc)
            for i in members:
                if results[i] is None:
                    results[i] = error
            if _lost(conn, exc):
                break  # the later projects' batches get it too, below
    return [r if r is not None else unwritten for r in results]


def _submit_project(
    conn: Connection,
    project_hash: str,
    items: Sequence[_GroupItem],
    members: Sequence[int],
    results: list[_GroupResult | BaseException | None],
) -> None:
    store = items[members[0]][0]
    task_uuids = [items[i][1].requests[0].task_uuid for i in members]
    try:
        read = _read(conn, project_hash, task_uuids, lock=False)
    except Exception as exc:
        raise _NotRead(exc) from exc
    pending: list[tuple[int, _Writes]] = []
    for i in members:
        batch = items[i][1]
        try:
            outcome = _decide(conn, batch, read)
            actor = batch.principal.username
            pending.append((i, _writes(conn, store, project_hash, outcome, actor, read.hooks)))
        except Exception as exc:  # this batch's own: a refusal, a failed read of its own
            if _lost(conn, exc):
                raise  # every batch not yet written
            results[i] = _batch_error(exc)
    if not pending:
        return
    moved = set(_write_in_one(conn, store, project_hash, pending))
    for i, writes in pending:
        if i in moved:
            results[i] = (writes.outcome, writes.outbox.uids)
        else:
            results[i] = TaskMoved(f"a task of project {project_hash} moved meanwhile")


class _NotRead(Exception):
    """A project's read in a group failed (``error``): nothing of it was written."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _batch_error(exc: Exception) -> Exception:
    """What a batch whose statement failed with ``exc`` comes back as: PostgreSQL
    aborted it to end a deadlock (or a serialization failure): nothing of it was
    written, it reads again."""
    if isinstance(exc, DBAPIError) and isinstance(
        exc.orig, (DeadlockDetected, SerializationFailure)
    ):
        return TaskMoved(str(exc.orig))
    return exc


def _lost(conn: Connection, exc: Exception) -> bool:
    """Whether ``conn`` is gone (the server dropped it): no further statement on it."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or conn.invalidated:
        return True
    driver = conn.connection.driver_connection
    return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))


def move_task(
    store: Store, project_hash: str, task_uuid: str, stage_uuid: str, principal: Principal
) -> tuple[dict[str, Any], list[str]]:
    def work(conn: Connection) -> tuple[task_machine.Outcome, list[str]]:
        workflow = load_workflow(conn, project_hash)
        states = _load_states(conn, project_hash, [task_uuid])
        if task_uuid not in states:
            raise NotFound(f"task {task_uuid} does not exist in this project")
        outcome = task_machine.move_task(workflow, project_hash, states[task_uuid], stage_uuid)
        return outcome, _apply(conn, store, project_hash, outcome, principal.username)

    outcome, uids = store.db.write_grouped(work)
    return task_dict(outcome.transitions[0].after), uids


def task_history_of(store: Store, project_hash: str, task_uuid: str) -> list[dict[str, Any]]:
    with store.db.read() as conn:
        rows = (
            conn.execute(
                select(task_history)
                .where(
                    task_history.c.project_hash == project_hash,
                    task_history.c.task_uuid == task_uuid,
                )
                .order_by(task_history.c.id)
            )
            .mappings()
            .all()
        )
    if not rows:
        raise NotFound(f"task {task_uuid} does not exist in this project")
    return [{k: v for k, v in r.items() if k not in ("id", "project_hash")} for r in rows]


def get_task(store: Store, project_hash: str, task_uuid: str) -> dict[str, Any]:
    with store.db.read() as conn:
        states = _load_states(conn, project_hash, [task_uuid], lock=False)
    if task_uuid not in states:
        raise NotFound(f"task {task_uuid} does not exist in this project")
    return task_dict(states[task_uuid])
