"""Tasks, label rows and history: applying workflow outcomes in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, insert, select, text

from stagehook.errors import NotFound
from stagehook.store import parsed, task_counts
from stagehook.store.access import (
    Principal,
    Role,
    may_override,
    require_assignee,
    require_role_at_stage,
)
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.json_rows import PAGES_JOIN_IN_SQL, as_utf8, joined, json_object
from stagehook.store.label_checks import require_complete
from stagehook.store.outbox.write import Hook, insert_rows, outbox_ctes, outbox_rows
from stagehook.store.outbox.write import cte_params as outbox_cte_params
from stagehook.store.prepared import Prepared, json_param, json_rows
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
    project's live webhooks, its ontology as stored, and the tasks (with ``lock``,
    locked on PostgreSQL, in task order), the lists as JSON arrays of rows."""
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
    {"ORDER BY task_uuid FOR UPDATE" if lock else ""}) t)
FROM projects p WHERE p.project_hash = :project_hash"""


_BATCH_READ = Prepared(text(_batch_read("sqlite")), postgresql=text(_batch_read("postgresql")))
#: PostgreSQL's optimistic path (``apply_stage_batch``): no row lock, the write checks.
_BATCH_READ_UNLOCKED = Prepared(text(_batch_read("postgresql", lock=False)))

#: A transition's writes as one PostgreSQL statement: the task rows, their history, the
#: stage counts (store/task_counts.py), the events and their deliveries
#: (store/outbox/write.py), each a ``WITH`` clause over one JSON parameter. psycopg
#: costs about 50 µs of CPU per statement here, more than PostgreSQL spends running
#: most of them; SQLite's driver costs a few µs, and SQLite has no ``INSERT`` in
#: ``WITH``: it runs the statements one by one (``_MOVE``, ``_HISTORY``, ...).
_MOVE_TYPES = (
    *zip(_MOVE_COLUMNS, ("text",) * 4 + ("float8",), strict=True),
    ("was_stage", "text"),
    ("was_status", "text"),
    ("was_assignee", "text"),
)
_HISTORY_TYPES = tuple((name, "float8" if name == "at" else "text") for name in _HISTORY_COLUMNS)
#: Each task moves only from the state the transition was computed from (a task another
#: transaction moved meanwhile is not touched), and the rest is written only if every
#: task moved: a statement that moved fewer wrote nothing else, and says so (its
#: transaction rolls back; alone, a single task that did not move wrote nothing).
_MOVED = (
    "moved AS (UPDATE tasks SET stage_uuid = r.stage_uuid, status = r.status, "
    "assignee = r.assignee, updated_at = r.updated_at FROM "
    + json_rows("moved", _MOVE_TYPES)
    + " WHERE tasks.task_uuid = r.task_uuid AND tasks.stage_uuid = r.was_stage"
    " AND tasks.status = r.was_status AND tasks.assignee IS NOT DISTINCT FROM r.was_assignee"
    " RETURNING tasks.task_uuid)",
    "all_moved AS (SELECT count(*) = :moves AS yes FROM moved)",
)
_IF_ALL_MOVED = " WHERE (SELECT yes FROM all_moved)"
_WRITE_IN_ONE = Prepared(
    text(
        "WITH "
        + ",\n".join(
            (
                *_MOVED,
                f"recorded AS (INSERT INTO task_history ({', '.join(_HISTORY_COLUMNS)}) "
                f"SELECT * FROM {json_rows('recorded', _HISTORY_TYPES)}{_IF_ALL_MOVED})",
                task_counts.upsert_cte(_IF_ALL_MOVED),
                *outbox_ctes(_IF_ALL_MOVED),
            )
        )
        + "\nSELECT yes FROM all_moved"
    )
)


class TaskMoved(Exception):
    """A task was no longer in the state a transition was computed from (another
    transaction moved it first): nothing else was written, and the transaction is to be
    rolled back; a single task's statement of its own wrote nothing. Read again."""


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
    if conn.dialect.name == "postgresql":
        if len(moves) > 1 and conn.connection.driver_connection.autocommit:  # type: ignore[union-attr]
            # the UPDATE commits the tasks that did move even when another did not
            raise ValueError("several tasks move only inside a transaction")
        if moves or outbox.events:
            for move, t in zip(moves, outcome.transitions, strict=True):
                move["was_stage"] = t.before.stage_uuid
                move["was_status"] = t.before.status.value
                move["was_assignee"] = t.before.assignee
            (all_moved,) = _WRITE_IN_ONE.first(
                conn,
                {
                    "moves": len(moves),
                    "moved": json_param(moves),
                    "recorded": json_param(history),
                    **task_counts.cte_params(conn, project_hash, deltas),
                    **outbox_cte_params(conn, store, outbox),
                },
            ) or (False,)
            if not all_moved:
                raise TaskMoved(f"a task of project {project_hash} moved meanwhile")
        return outbox.uids
    _MOVE.run_many(conn, moves)
    _HISTORY.run_many(conn, history)
    task_counts.add(conn, project_hash, deltas)
    insert_rows(conn, store, outbox)
    return outbox.uids


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

    On PostgreSQL a batch of one task (every single submit) is applied optimistically:
    read without a lock, then one statement that moves the task only from the state it
    was read in and writes the rest only if it did (``_WRITE_IN_ONE``), each statement
    a transaction of its own (``Database.statements``): two round trips instead of four,
    no row lock held while Python works. If another transaction moved the task first,
    nothing was written: it reads again (``OPTIMISTIC_TRIES`` times), then takes the
    row lock as a larger batch always does.
    """
    if not store.db.is_sqlite and len(batch.requests) == 1:
        for _ in range(OPTIMISTIC_TRIES):
            try:
                work = _stage_actions(store, batch, lock=False)
                return _applied(*await store.db.statements_async(work))
            except TaskMoved:
                continue
    return _applied(*await store.db.write_grouped_async(_stage_actions(store, batch)))


#: How often a single-task batch reads again when its task moved meanwhile.
OPTIMISTIC_TRIES = 3


def _applied(
    outcome: task_machine.Outcome, uids: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    return [task_dict(t.after) for t in outcome.transitions], uids


def _stage_actions(
    store: Store, batch: StageBatch, *, lock: bool = True
) -> Callable[[Connection], tuple[task_machine.Outcome, list[str]]]:
    project_hash, stage_uuid, requests = batch.project_hash, batch.stage_uuid, batch.requests
    principal, role = batch.principal, batch.role

    def work(conn: Connection) -> tuple[task_machine.Outcome, list[str]]:
        # Every read up front, in one statement ...
        sent = (_BATCH_READ if lock else _BATCH_READ_UNLOCKED).send(
            conn,
            {
                "project_hash": project_hash,
                "task_uuids": json.dumps([r.task_uuid for r in requests]),
            },
        )
        read = sent.first()
        if read is None:
            raise NotFound(f"project {project_hash} does not exist")
        graph, hooks_json, structure, states_json = read
        hooks = [Hook(s, h, url, bool(on)) for s, h, url, on in json.loads(hooks_json or "[]")]
        workflow = parsed.workflow(graph, {h.stage_uuid: h.url for h in hooks})
        stage = workflow.stage(stage_uuid)
        if stage is None:
            raise NotFound(f"stage {stage_uuid} is not in this project's workflow")
        require_role_at_stage(role, stage)
        for request in requests:
            if request.action == Action.ASSIGN:
                require_assignee(conn, principal, role, project_hash, stage, request.assignee)
        actor = task_machine.Actor(principal.username, may_override=may_override(role))
        states = {row[0]: _state(row) for row in json.loads(states_json or "[]")}
        outcome = task_machine.apply_actions(
            workflow, project_hash, stage_uuid, states, requests, actor
        )
        require_complete(
            conn,
            None if structure is None else parsed.index(structure),
            [t.before.label_hash for t in outcome.transitions if t.action == Action.SUBMIT],
        )
        # ... and every write in another (store/tasks.py _WRITE_IN_ONE)
        return outcome, _apply(conn, store, project_hash, outcome, principal.username, hooks)

    return work


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
