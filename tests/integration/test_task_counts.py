"""Per-stage task counts are kept with every change, never counted per page view, and
always equal what counting the tasks table would say."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from stagehook.store import task_counts
from stagehook.store.context import Store
from stagehook.workflow.graph import route
from stagehook.workflow.stages import Workflow
from tests.support.api import ADMIN_KEY, Api
from tests.support.counts import counted, shown
from tests.support.web import WebClient
from tests.support.workflows import ANNOTATE, COMPLETE, REVIEW, ROUTER, router_workflow


def check(api: Api, store: Store, project_hash: str) -> dict[str, dict[str, int]]:
    """The kept counts, and what the API shows, are exactly what counting says."""
    truth = counted(store, project_hash)
    with store.db.read() as conn:
        assert task_counts.by_stage(conn, project_hash) == truth
    assert shown(api, project_hash) == truth
    return truth


def test_counts_follow_every_transition(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(24)
    flow = router_workflow((50, 50))
    project_hash = api.create_project("counts", [dataset_hash], workflow=flow)["project_hash"]
    assert check(api, store, project_hash) == {ANNOTATE: {"NEW": 24}}
    uuids = [t["task_uuid"] for t in api.tasks(project_hash)]
    # The router's branch is a pure function of the task's uuid (workflow/graph.route):
    # put one task bound for Review into the bulk submit, whatever uuids this run drew.
    graph = Workflow.model_validate(flow)
    bound = {u: route(graph, ROUTER, u) for u in uuids[3:]}
    uuids[3:] = sorted(uuids[3:], key=lambda u: bound[u] != REVIEW)

    def act(stage: str, action: str, chosen: list[str]) -> None:
        api.act(project_hash, stage, [{"task_uuid": t, "action": action} for t in chosen])
        check(api, store, project_hash)

    act(ANNOTATE, "ASSIGN", uuids[:2])
    act(ANNOTATE, "RELEASE", uuids[:1])
    act(ANNOTATE, "SKIP", uuids[2:3])
    act(ANNOTATE, "SUBMIT", uuids[:1])  # a single submit through the router
    act(ANNOTATE, "SUBMIT", uuids[3:10])  # a bulk submit
    at_review = [t["task_uuid"] for t in api.tasks(project_hash, stage_uuid=REVIEW)]
    assert at_review, "the router sent nothing to review"
    act(REVIEW, "REJECT", at_review[:1])  # back to Annotate
    if len(at_review) > 1:
        act(REVIEW, "APPROVE", at_review[1:])
    truth = check(api, store, project_hash)
    assert sum(n for by_status in truth.values() for n in by_status.values()) == 24
    assert COMPLETE in truth


def test_counts_follow_a_failed_batch_a_move_and_new_data(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(4)
    project_hash = api.create_project("counts", [dataset_hash], workflow=router_workflow((0, 100)))[
        "project_hash"
    ]
    uuids = [t["task_uuid"] for t in api.tasks(project_hash)]
    # all or nothing: one unknown task fails the batch, and the counts stay as they were
    bad = api.raw(
        "POST",
        f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions",
        json={
            "actions": [
                {"task_uuid": uuids[0], "action": "SUBMIT"},
                {"task_uuid": "00000000-0000-4000-8000-00000000dead", "action": "SUBMIT"},
            ]
        },
    )
    assert bad.status_code in (404, 409, 422)
    assert check(api, store, project_hash) == {ANNOTATE: {"NEW": 4}}
    api.request(
        "POST", f"/projects/{project_hash}/tasks/{uuids[1]}/move", json={"stage_uuid": COMPLETE}
    )
    check(api, store, project_hash)
    api.add_data_units(dataset_hash, [{"title": "late-1"}, {"title": "late-2"}])
    truth = check(api, store, project_hash)
    assert truth[ANNOTATE] == {"NEW": 5}
    assert ROUTER not in truth  # a router never holds tasks


#: Tables that grow with the work; no call an annotator, reviewer or editor makes may
#: read one of them in full.
GROWING = ("tasks", "label_rows", "task_history", "task_counts")


def _scans(conn: Any, statement: str, params: Any) -> list[str]:
    """Why this statement's cost grows with the project: full reads, sorts, counts."""
    found = []
    if re.search(r"\b(count|sum)\(", statement, re.IGNORECASE) and "task_counts" not in statement:
        found.append("counts rows of a growing table")
    if conn.dialect.name == "sqlite":
        plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
        found += [p for p in plan if any(p.startswith(f"SCAN {t}") for t in GROWING)]
        # an index search on the project alone reads every row of the project (the
        # counts' rows are few per project: reading them all is what they are for)
        found += [
            p
            for p in plan
            for t in GROWING
            if t != "task_counts" and re.fullmatch(rf"SEARCH {t} USING .*\(project_hash=\?\)", p)
        ]
        return found + [p for p in plan if "TEMP B-TREE FOR ORDER BY" in p]
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an index, if there is one
    plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params)]
    return found + [p for p in plan if any(f"Seq Scan on {t} " in p + " " for t in GROWING)]


def test_no_call_of_the_daily_work_reads_a_growing_table_in_full(
    api: Api, store: Store, server: tuple[str, Store]
) -> None:
    dataset_hash, _ = api.dataset_with_units(30)
    project_hash = api.create_project("plans", [dataset_hash], workflow=router_workflow((100, 0)))[
        "project_hash"
    ]
    task, second = api.tasks(project_hash)[:2]
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and any(t in statement for t in GROWING):
            seen.append((statement, params))

    p = f"/projects/{project_hash}"
    event.listen(store.db.engine, "before_cursor_execute", capture)
    try:
        api.request("GET", p)
        api.request("GET", f"{p}/tasks", params={"stage_uuid": ANNOTATE, "limit": 50})
        api.request("GET", f"{p}/tasks", params={"limit": 500})
        api.request("GET", f"{p}/tasks/{task['task_uuid']}")
        row = api.get_label_row(project_hash, task["label_hash"])
        api.put_label_row(project_hash, task["label_hash"], {"objects": []}, row["version"])
        api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
        with WebClient(server[0]) as ui:
            assert ui.sign_in(key=ADMIN_KEY).status_code == 303
            for page in (
                p,
                f"{p}/stages/{ANNOTATE}",
                f"{p}/stages/{REVIEW}",
                f"{p}/tasks/{task['task_uuid']}",
                f"{p}/workflow",
            ):
                assert ui.get(page).status_code == 200, page
            # the editor's "next task" peek, then "Submit & next"
            json_headers = {"accept": "application/json", "x-csrf-token": ui.csrf("/projects")}
            peek = ui.get(f"{p}/tasks/{second['task_uuid']}/next", headers=json_headers)
            assert peek.status_code == 200 and peek.json()["next"] is not None
            advanced = ui.post(
                f"{p}/tasks/{second['task_uuid']}/advance",
                json={"action": "SUBMIT"},
                headers=json_headers,
            )
            assert advanced.status_code == 200, advanced.text
    finally:
        event.remove(store.db.engine, "before_cursor_execute", capture)
    assert len(seen) > 10
    with store.db.engine.connect() as conn, conn.begin():
        for statement, params in seen:
            if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                assert not _scans(conn, statement, params), statement
        conn.rollback()
