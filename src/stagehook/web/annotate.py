"""The labeling workbench's endpoints: what the editor needs to show a task, and
"Submit & next" (act on this task, assign and hand back the next one in one request).

Labels themselves are saved by the browser through the REST API's label-row PUT, so
every rule about them lives there; these endpoints only move tasks through the queue.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stagehook.errors import InvalidInput, InvalidTransition, StagehookError
from stagehook.store import ontologies, tasks, work_queue
from stagehook.store.access import (
    MANAGER_ROLES,
    ROLE_STAGE_TYPES,
    Principal,
    Role,
    label_edit_refusal,
    require_project_role,
)
from stagehook.store.context import Store
from stagehook.web.common import (
    TEMPLATES,
    StoreDep,
    WebUser,
    back,
    flash,
    web_router,
)
from stagehook.workflow.stages import Action, StageType
from stagehook.workflow.task_machine import ActionRequest

router = web_router()

#: How often "next" retries when someone else assigned the same task a moment earlier.
ASSIGN_ATTEMPTS = 5


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    comment: str | None = Field(default=None, max_length=2000)


def editor_task(store: Store, project_hash: str, task_uuid: str) -> dict[str, Any]:
    with store.db.read() as conn:
        view = work_queue.task_view(conn, project_hash, task_uuid)
    comment = view["review_comment"]
    if comment is not None:
        comment["when"] = TEMPLATES.env.filters["when"](comment["at"])
    return view


def _act_and_claim(
    store: Store,
    project_hash: str,
    stage_uuid: str,
    user: Principal,
    act: ActionRequest | None,
) -> dict[str, Any] | None:
    """Apply ``act`` and assign the next waiting task to ``user`` in ONE transaction.

    A task someone else assigned a moment earlier fails the batch; it is skipped and the
    batch retried with the next one. Returns the next task, None when the queue is empty.
    """
    role = require_project_role(store, user, project_hash)
    own = [act] if act is not None else []
    skip = {act.task_uuid} if act is not None else set()
    for _ in range(ASSIGN_ATTEMPTS):
        with store.db.read() as conn:
            found = work_queue.next_task(
                conn, project_hash, stage_uuid, user.username, exclude=skip
            )
        batch = list(own)
        if found is not None and not found.held:
            batch.append(ActionRequest(found.task_uuid, Action.ASSIGN))
        if batch:
            try:
                tasks.apply_stage_actions(store, project_hash, stage_uuid, batch, user, role)
            except InvalidTransition:
                if found is None or found.held:
                    raise
                skip.add(found.task_uuid)
                continue
        return None if found is None else editor_task(store, project_hash, found.task_uuid)
    if own:  # every candidate was taken meanwhile: act alone
        tasks.apply_stage_actions(store, project_hash, stage_uuid, own, user, role)
    return None


@router.post("/projects/{project_hash}/stages/{stage_uuid}/start")
def start(
    request: Request, project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser
) -> Response:
    """ "Start labeling" on a queue: assign me the next task and open it in the editor."""
    try:
        found = _act_and_claim(store, project_hash, stage_uuid, user, None)
    except StagehookError as exc:
        flash(request, exc.message, "error")
        found = None
    else:
        if found is None:
            flash(request, "No task is waiting at this stage.")
    if found is None:
        return back(f"/projects/{project_hash}/stages/{stage_uuid}")
    return back(f"/projects/{project_hash}/tasks/{found['task_uuid']}")


@router.get("/projects/{project_hash}/tasks/{task_uuid}/next")
def peek_next(project_hash: str, task_uuid: str, store: StoreDep, user: WebUser) -> Any:
    """The task "Submit & next" will most likely open, so the browser loads its image early."""
    require_project_role(store, user, project_hash)
    task = tasks.get_task(store, project_hash, task_uuid)
    with store.db.read() as conn:
        found = work_queue.next_task(
            conn, project_hash, task["stage_uuid"], user.username, exclude={task_uuid}
        )
    return {"next": None if found is None else editor_task(store, project_hash, found.task_uuid)}


@router.post("/projects/{project_hash}/tasks/{task_uuid}/advance")
def advance(
    project_hash: str,
    task_uuid: str,
    body: AdvanceIn,
    store: StoreDep,
    user: WebUser,
) -> Any:
    """Act on the task (submit, approve, reject with a comment) and open the next one."""
    require_project_role(store, user, project_hash)  # before the task says it exists
    task = tasks.get_task(store, project_hash, task_uuid)
    stage_uuid = task["stage_uuid"]
    if body.action == Action.REJECT and not (body.comment or "").strip():
        raise InvalidInput("say why you reject the task; the annotator sees your comment")
    comment = (body.comment or "").strip() or None
    act = ActionRequest(task_uuid, body.action, None, comment)
    following = _act_and_claim(store, project_hash, stage_uuid, user, act)
    if following is None:
        return {"next": None, "message": "Done: no more tasks are waiting at this stage for you."}
    return {"next": following}


def _structure(store: Store, ontology_hash: str | None) -> dict[str, Any] | None:
    """The ontology rides in the page: the editor starts without another request."""
    return (
        None
        if ontology_hash is None
        else ontologies.get_ontology(store, ontology_hash)["structure"]
    )


def workbench_config(
    store: Store,
    project: dict[str, Any],
    stage: dict[str, Any],
    task: dict[str, Any],
    user: Principal,
    role: Role,
    final: bool,
) -> dict[str, Any]:
    """What labels/workbench.js starts from (embedded in the page as JSON)."""
    kind = StageType(stage["stage_type"])
    may_act = role in MANAGER_ROLES or kind in ROLE_STAGE_TYPES.get(role, frozenset({kind}))
    # The same rule the label row's PUT applies (store/access.py), so the editor never
    # offers an edit the save would refuse.
    refusal = label_edit_refusal(user, role, kind, stage["title"], task["status"], task["assignee"])
    editable = kind == StageType.ANNOTATE and may_act and not final and refusal is None
    project_hash = project["project_hash"]
    return {
        "project_hash": project_hash,
        "project_title": project["title"],
        "ontology": _structure(store, project.get("ontology_hash")),
        "username": user.username,
        "stage_type": kind.value,
        "read_only": not editable,
        "may_act": may_act and not final and kind in (StageType.ANNOTATE, StageType.REVIEW),
        "task_base": f"/projects/{project_hash}/tasks",
        "task": editor_task(store, project_hash, task["task_uuid"]),
    }
