"""Tasks, stage actions and label rows."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from stagehook.api.deps import (
    CurrentUser,
    Cursor,
    Limit,
    ProjectAdminRole,
    ProjectRole,
    StoreDep,
    cached_key_access,
    current_principal,
    get_store,
    project_role,
)
from stagehook.api.direct import Declined, DirectRoute, json_body_sent
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import (
    ActionsAppliedPublic,
    LabelRowPublic,
    TaskDetailPublic,
    TaskMovedPublic,
    TasksPage,
)
from stagehook.api.schemas import ActionsIn, LabelRowPut, MoveIn
from stagehook.api.shaped_json import json_page
from stagehook.store import labels, tasks
from stagehook.store.access import Principal, Role
from stagehook.store.auth_cache import StaleAccess
from stagehook.store.context import Store
from stagehook.workflow.stages import TaskStatus
from stagehook.workflow.task_machine import ActionRequest

router = APIRouter(prefix="/projects/{project_hash}", tags=["tasks"], route_class=DocumentedRoute)


@router.get("/tasks", response_model=TasksPage)
def list_tasks(
    project_hash: str,
    store: StoreDep,
    _: ProjectRole,
    stage_uuid: Annotated[str | None, Query(max_length=64)] = None,
    status: TaskStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    # up to 500 rows rendered as JSON by the database, sent as they are (api/shaped_json.py)
    page, next_cursor = tasks.list_tasks_json(
        store,
        project_hash,
        stage_uuid=stage_uuid,
        status=status.value if status else None,
        limit=limit,
        cursor=cursor,
    )
    return json_page("tasks", page, next_cursor)


@router.get("/tasks/{task_uuid}", response_model=TaskDetailPublic)
def get_task(project_hash: str, task_uuid: str, store: StoreDep, _: ProjectRole) -> dict[str, Any]:
    task = tasks.get_task(store, project_hash, task_uuid)
    task["history"] = tasks.task_history_of(store, project_hash, task_uuid)
    return task


@router.post(
    "/tasks/{task_uuid}/move", response_model=TaskMovedPublic, responses=error_responses(409)
)
def move_task(
    project_hash: str,
    task_uuid: str,
    body: MoveIn,
    store: StoreDep,
    user: CurrentUser,
    _: ProjectAdminRole,
) -> dict[str, Any]:
    task, uids = tasks.move_task(store, project_hash, task_uuid, body.stage_uuid, user)
    return {"task": task, "event_uids": uids}


@router.post(
    "/workflow/stages/{stage_uuid}/actions",
    response_model=ActionsAppliedPublic,
    # 403: an annotator acts at Annotate stages only, a reviewer at Review stages
    responses=error_responses(403, 409),
)
async def stage_actions(
    project_hash: str,
    stage_uuid: str,
    body: ActionsIn,
    store: StoreDep,
    user: CurrentUser,
    role: ProjectRole,
) -> dict[str, Any]:
    # async: the request waits for its (group) commit without a worker thread of its own.
    # Most calls are answered by ``stage_actions_direct`` below, the same steps without
    # FastAPI's per-request machinery; this one answers what that one declines.
    return await _apply_actions(store, project_hash, stage_uuid, body, user, role)


async def _apply_actions(
    store: Store,
    project_hash: str,
    stage_uuid: str,
    body: ActionsIn,
    user: Principal,
    role: Role,
    epoch: int | None = None,
) -> dict[str, Any]:
    requests = [ActionRequest(a.task_uuid, a.action, a.assignee, a.comment) for a in body.actions]
    batch = tasks.StageBatch(project_hash, stage_uuid, requests, user, role, epoch)
    changed, uids = await tasks.apply_stage_batch(store, batch)
    return {"tasks": changed, "event_uids": uids}


_ACTIONS_IN = TypeAdapter(ActionsIn)
_ACTIONS_APPLIED = TypeAdapter(ActionsAppliedPublic)


async def stage_actions_direct(request: Request, raw: bytes) -> Response:
    """``stage_actions`` as ``api/direct.py`` serves it: the same dependency functions in
    FastAPI's order, the same body and answer validation; any body FastAPI would refuse
    is declined to ``stage_actions``, which refuses it in FastAPI's own words."""
    if not json_body_sent(request):
        raise Declined
    try:
        body = _ACTIONS_IN.validate_json(raw)
    except ValidationError:
        raise Declined from None
    project_hash, stage_uuid = (
        request.path_params["project_hash"],
        request.path_params["stage_uuid"],
    )
    store = await get_store(request)
    # A key whose owner and role are cached: its task read checks the access epoch in
    # the same statement (store/auth_cache.py), one round trip less than reading it first.
    cached = cached_key_access(request, store, project_hash)
    answer = None
    if cached is not None:
        with contextlib.suppress(StaleAccess):  # access changed: authenticate afresh
            answer = await _apply_actions(store, project_hash, stage_uuid, body, *cached)
    if answer is None:
        user = await current_principal(request, store)
        role = await project_role(request, project_hash, user, store)
        answer = await _apply_actions(store, project_hash, stage_uuid, body, user, role)
    content = _ACTIONS_APPLIED.dump_json(_ACTIONS_APPLIED.validate_python(answer), by_alias=True)
    return Response(content, media_type="application/json")


#: Served in front of ``stage_actions`` (installed by ``api.app.create_app``).
DIRECT_ROUTES = [
    DirectRoute(
        "POST",
        "/api/v1/projects/{project_hash}/workflow/stages/{stage_uuid}/actions",
        stage_actions_direct,
    )
]


@router.get("/label-rows/{label_hash}", response_model=LabelRowPublic)
def get_label_row(
    project_hash: str, label_hash: str, store: StoreDep, _: ProjectRole
) -> dict[str, Any]:
    return labels.get_label_row(store, project_hash, label_hash)


@router.put(
    "/label-rows/{label_hash}", response_model=LabelRowPublic, responses=error_responses(409)
)
def put_label_row(
    project_hash: str,
    label_hash: str,
    body: LabelRowPut,
    store: StoreDep,
    user: CurrentUser,
    role: ProjectRole,
) -> dict[str, Any]:
    """Who may edit labels depends on where the task rests (docs/security.md)."""
    return labels.put_label_row(
        store, project_hash, label_hash, body.labels, body.version, (user, role)
    )
