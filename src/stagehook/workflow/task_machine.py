"""The task state machine: actions in, new task states and event intents out.

Everything here is pure. The store applies an ``Outcome`` in one transaction, so a batch
is all-or-nothing simply because this module raises before producing anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from stagehook.errors import InvalidTransition, NotFound
from stagehook.events import TASK_COMPLETED, TASK_SUBMITTED
from stagehook.workflow.graph import route
from stagehook.workflow.stages import (
    FINAL_STATUSES,
    WORK_STAGE_TYPES,
    Action,
    Stage,
    StageType,
    TaskStatus,
    Workflow,
)

MOVE = "MOVE"

#: Which stage type accepts which action.
ACTION_STAGE_TYPES: dict[Action, frozenset[StageType]] = {
    Action.SUBMIT: frozenset({StageType.ANNOTATE}),
    Action.SKIP: frozenset({StageType.ANNOTATE}),
    Action.APPROVE: frozenset({StageType.REVIEW}),
    Action.REJECT: frozenset({StageType.REVIEW}),
    Action.ASSIGN: WORK_STAGE_TYPES,
    Action.RELEASE: WORK_STAGE_TYPES,
}

#: Which pathway a moving action follows.
ACTION_PATHWAY: dict[Action, str] = {
    Action.SUBMIT: "submit",
    Action.APPROVE: "approve",
    Action.REJECT: "reject",
}


@dataclass(frozen=True)
class TaskState:
    task_uuid: str
    data_hash: str
    label_hash: str
    stage_uuid: str
    status: TaskStatus
    assignee: str | None = None


@dataclass(frozen=True)
class ActionRequest:
    task_uuid: str
    action: Action
    assignee: str | None = None
    #: A reviewer's note (why a task is rejected); kept in the task's history.
    comment: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who acts; ``may_override`` lets managers act on tasks assigned to others."""

    name: str
    may_override: bool = False


@dataclass(frozen=True)
class Transition:
    before: TaskState
    after: TaskState
    action: str
    comment: str | None = None


@dataclass(frozen=True)
class EventIntent:
    """An event to store: ``stage_uuid`` is the stage whose webhook it belongs to."""

    event_type: str
    stage_uuid: str
    payload: dict[str, object]


@dataclass(frozen=True)
class Outcome:
    transitions: tuple[Transition, ...]
    events: tuple[EventIntent, ...]


def _arrival_status(stage: Stage, via: str | None) -> TaskStatus:
    if stage.stage_type == StageType.COMPLETE:
        return TaskStatus.COMPLETED
    if stage.stage_type == StageType.ARCHIVE:
        return TaskStatus.ARCHIVED
    return TaskStatus.REOPENED if via == "reject" else TaskStatus.NEW


def _arrive(workflow: Workflow, task: TaskState, destination: str, via: str | None) -> TaskState:
    resting = route(workflow, destination, task.task_uuid)
    stage = workflow.stage(resting)
    assert stage is not None
    return replace(task, stage_uuid=resting, status=_arrival_status(stage, via), assignee=None)


def _completed_events(
    workflow: Workflow, project_hash: str, transitions: Sequence[Transition]
) -> list[EventIntent]:
    complete = workflow.of_type(StageType.COMPLETE)[0]
    if complete.webhook is None:
        return []
    return [
        EventIntent(
            TASK_COMPLETED,
            complete.uuid,
            {
                "label_hash": t.after.label_hash,
                "project_hash": project_hash,
                "data_hash": t.after.data_hash,
            },
        )
        for t in transitions
        if t.after.stage_uuid == complete.uuid and t.before.stage_uuid != complete.uuid
    ]


def _step(stage: Stage, task: TaskState, request: ActionRequest, actor: Actor) -> str | None:
    """Check one request against the task; return the pathway to follow, if it moves."""
    who = f"task {task.task_uuid}"
    if task.stage_uuid != stage.uuid:
        raise InvalidTransition(f"{who} is at stage {task.stage_uuid}, not at {stage.title!r}")
    if task.status in FINAL_STATUSES:
        raise InvalidTransition(f"{who} is {task.status} and accepts no more actions")
    if stage.stage_type not in ACTION_STAGE_TYPES[request.action]:
        raise InvalidTransition(
            f"{who}: {request.action} is not possible at {stage.stage_type} stage {stage.title!r}"
        )
    held_by_other = (
        task.status == TaskStatus.ASSIGNED
        and task.assignee is not None
        and task.assignee != actor.name
        and not actor.may_override
    )
    if held_by_other and request.action != Action.ASSIGN:
        raise InvalidTransition(f"{who} is assigned to {task.assignee}")
    if request.action == Action.RELEASE and task.status != TaskStatus.ASSIGNED:
        raise InvalidTransition(f"{who} is not assigned, so it cannot be released")
    if request.action == Action.ASSIGN and held_by_other:
        raise InvalidTransition(f"{who} is already assigned to {task.assignee}")
    return ACTION_PATHWAY.get(request.action)


def apply_actions(
    workflow: Workflow,
    project_hash: str,
    stage_uuid: str,
    tasks: Mapping[str, TaskState],
    requests: Sequence[ActionRequest],
    actor: Actor,
) -> Outcome:
    """Apply a batch of actions at one stage, all or nothing."""
    stage = workflow.stage(stage_uuid)
    if stage is None:
        raise NotFound(f"stage {stage_uuid} is not in this workflow")
    if not requests:
        raise InvalidTransition("the batch holds no actions")
    seen: set[str] = set()
    transitions: list[Transition] = []
    submitted: list[TaskState] = []
    for request in requests:
        if request.task_uuid in seen:
            raise InvalidTransition(f"task {request.task_uuid} appears twice in the batch")
        seen.add(request.task_uuid)
        task = tasks.get(request.task_uuid)
        if task is None:
            raise NotFound(f"task {request.task_uuid} does not exist in this project")
        pathway_name = _step(stage, task, request, actor)
        if pathway_name is not None:
            pathway = stage.pathway(pathway_name)
            assert pathway is not None  # validated graph
            after = _arrive(workflow, task, pathway.destination_uuid, pathway_name)
            if request.action == Action.SUBMIT:
                submitted.append(task)
        elif request.action == Action.ASSIGN:
            after = replace(
                task, status=TaskStatus.ASSIGNED, assignee=request.assignee or actor.name
            )
        elif request.action == Action.RELEASE:
            after = replace(task, status=TaskStatus.RELEASED, assignee=None)
        else:  # SKIP
            after = replace(task, status=TaskStatus.SKIPPED, assignee=None)
        transitions.append(Transition(task, after, request.action.value, request.comment))

    events: list[EventIntent] = []
    if submitted and stage.webhook is not None:
        events.append(
            EventIntent(
                TASK_SUBMITTED,
                stage.uuid,
                {
                    "project_hash": project_hash,
                    "data_hashes": [t.data_hash for t in submitted],
                    "label_hashes": [t.label_hash for t in submitted],
                },
            )
        )
    events.extend(_completed_events(workflow, project_hash, transitions))
    return Outcome(tuple(transitions), tuple(events))


def move_task(workflow: Workflow, project_hash: str, task: TaskState, stage_uuid: str) -> Outcome:
    """An admin moves a task to any stage; arriving at Complete still fires its event."""
    target = workflow.stage(stage_uuid)
    if target is None:
        raise NotFound(f"stage {stage_uuid} is not in this workflow")
    if target.stage_type in (StageType.START, StageType.PERCENTAGE_ROUTER):
        raise InvalidTransition(f"tasks cannot rest at {target.stage_type} stage {target.title!r}")
    after = _arrive(workflow, task, target.uuid, None)
    transition = Transition(task, after, MOVE)
    return Outcome((transition,), tuple(_completed_events(workflow, project_hash, [transition])))
