"""Task queues per stage, stage actions, and the label row editor."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Form, Query, Request, Response

from stagehook.api.schemas import LabelRowPut
from stagehook.errors import InvalidInput, NotFound, StagehookError
from stagehook.inputs import decode_json
from stagehook.store import labels, projects, tasks
from stagehook.store.access import label_edit_refusal, require_project_role
from stagehook.web.annotate import workbench_config
from stagehook.web.common import (
    StoreDep,
    WebUser,
    back,
    content_security_policy,
    flash,
    render,
    same_site_path,
    validated,
    web_router,
)
from stagehook.workflow.stages import Action, StageType, TaskStatus
from stagehook.workflow.task_machine import ACTION_STAGE_TYPES, ActionRequest

router = web_router()

PAGE = 50
#: Button order and wording; which ones a stage shows comes from the state machine.
ACTION_LABELS: dict[Action, str] = {
    Action.ASSIGN: "Assign to me",
    Action.RELEASE: "Release",
    Action.SKIP: "Skip",
    Action.SUBMIT: "Submit",
    Action.APPROVE: "Approve",
    Action.REJECT: "Reject",
}
DONE_WORDS: dict[Action, str] = {
    Action.ASSIGN: "assigned",
    Action.RELEASE: "released",
    Action.SKIP: "skipped",
    Action.SUBMIT: "submitted",
    Action.APPROVE: "approved",
    Action.REJECT: "rejected",
}


def action_buttons(stage_type: str) -> list[tuple[str, str]]:
    kind = StageType(stage_type)
    return [(a.value, label) for a, label in ACTION_LABELS.items() if kind in ACTION_STAGE_TYPES[a]]


def _stage(project: dict[str, Any], stage_uuid: str) -> dict[str, Any]:
    stages: list[dict[str, Any]] = project["workflow"]["stages"]
    found = next((s for s in stages if s["uuid"] == stage_uuid), None)
    if found is None:
        raise NotFound(f"stage {stage_uuid} is not in this project's workflow")
    return found


@router.get("/projects/{project_hash}/stages/{stage_uuid}")
def queue_page(
    request: Request,
    project_hash: str,
    stage_uuid: str,
    store: StoreDep,
    user: WebUser,
    status: TaskStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    stage = _stage(project, stage_uuid)
    page, next_cursor = tasks.list_tasks(
        store,
        project_hash,
        stage_uuid=stage_uuid,
        status=status.value if status else None,
        limit=PAGE,
        cursor=cursor,
    )
    return render(
        request,
        "queue.html",
        project=project,
        stage=stage,
        role=role,
        tasks=page,
        status_filter=status.value if status else "",
        statuses=[s.value for s in TaskStatus],
        counts=project["task_counts"].get(stage_uuid, {}),
        actions=action_buttons(stage["stage_type"]),
        next_cursor=next_cursor,
    )


@router.post("/projects/{project_hash}/stages/{stage_uuid}/actions")
def act(
    request: Request,
    project_hash: str,
    stage_uuid: str,
    store: StoreDep,
    user: WebUser,
    one: Annotated[str, Form(max_length=200)] = "",
    bulk: Annotated[str, Form(max_length=20)] = "",
    task: Annotated[list[str] | None, Form()] = None,
    return_to: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """``one`` = ``task_uuid:ACTION`` from a row's button; ``bulk`` applies to ``task``.

    A bulk submit is one batch, so it fires one ``task_submitted_event`` for all of them.
    """
    target = same_site_path(return_to, f"/projects/{project_hash}/stages/{stage_uuid}")
    try:
        if one:
            task_uuid, _, name = one.partition(":")
            chosen, action = [task_uuid], name
        else:
            chosen, action = task or [], bulk
        if action not in Action.__members__:
            raise InvalidInput(f"unknown action {action!r}")
        if not chosen:
            raise InvalidInput("tick at least one task first")
        role = require_project_role(store, user, project_hash)
        requests = [ActionRequest(t, Action(action)) for t in chosen]
        changed, _ = tasks.apply_stage_actions(
            store, project_hash, stage_uuid, requests, user, role
        )
    except StagehookError as exc:
        flash(request, exc.message, "error")
        return back(target)
    flash(request, f"{len(changed)} task(s) {DONE_WORDS[Action(action)]}.")
    return back(target)


@router.get("/projects/{project_hash}/tasks/{task_uuid}")
def task_page(
    request: Request, project_hash: str, task_uuid: str, store: StoreDep, user: WebUser
) -> Response:
    return _task_page(request, project_hash, task_uuid, store, user)


def _task_page(
    request: Request,
    project_hash: str,
    task_uuid: str,
    store: StoreDep,
    user: WebUser,
    *,
    draft: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    task = tasks.get_task(store, project_hash, task_uuid)
    stage = _stage(project, task["stage_uuid"])
    row = labels.get_label_row(store, project_hash, task["label_hash"])
    titles = {s["uuid"]: s["title"] for s in project["workflow"]["stages"]}
    final = TaskStatus(task["status"]) in (TaskStatus.COMPLETED, TaskStatus.ARCHIVED)
    response = render(
        request,
        "task.html",
        status=status,
        project=project,
        role=role,
        task=task,
        stage=stage,
        row=row,
        draft=draft if draft is not None else json.dumps(row["labels"]),
        error=error,
        # The rule the save applies, shown before anyone types (store/access.py).
        read_only=label_edit_refusal(
            user,
            role,
            StageType(stage["stage_type"]),
            stage["title"],
            task["status"],
            task["assignee"],
        ),
        history=tasks.task_history_of(store, project_hash, task_uuid),
        titles=titles,
        actions=action_buttons(stage["stage_type"]),
        final=final,
        workbench=workbench_config(store, project, stage, task, user, role, final),
    )
    origins = store.settings.media_origins
    response.headers["content-security-policy"] = content_security_policy(
        origins, style_attributes=True
    )
    return response


@router.post("/projects/{project_hash}/tasks/{task_uuid}/labels")
def save_labels(
    request: Request,
    project_hash: str,
    task_uuid: str,
    store: StoreDep,
    user: WebUser,
    version: Annotated[str, Form(max_length=40)],
    labels_json: Annotated[str, Form(max_length=900_000)],
) -> Response:
    """Labels are a JSON object; a stale ``version`` is refused (someone saved meanwhile).

    The form is checked by the API's own rules: the JSON layer, then ``LabelRowPut``.
    """
    role = require_project_role(store, user, project_hash)
    task = tasks.get_task(store, project_hash, task_uuid)
    try:
        parsed = decode_json(labels_json or "{}", "the labels")
        if not isinstance(parsed, dict):
            raise InvalidInput('labels must be a JSON object, like {"objects": []}')
        if not version.strip().isdigit():
            raise InvalidInput("version: reload the task; the form's version is not a number")
        body = validated(LabelRowPut, {"labels": parsed, "version": int(version)})
        labels.put_label_row(
            store, project_hash, task["label_hash"], body.labels, body.version, (user, role)
        )
    except StagehookError as exc:
        return _task_page(
            request,
            project_hash,
            task_uuid,
            store,
            user,
            draft=labels_json,
            error=exc.message,
            status=exc.status,
        )
    flash(request, "Labels saved.")
    return back(f"/projects/{project_hash}/tasks/{task_uuid}")
