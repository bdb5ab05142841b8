"""The task state machine: what each action does where, what it refuses, and which events
it asks the store to send."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from stagehook.errors import InvalidTransition, NotFound
from stagehook.events import TASK_COMPLETED, TASK_SUBMITTED
from stagehook.workflow import graph
from stagehook.workflow.stages import Action, StageType, TaskStatus, Workflow
from stagehook.workflow.task_machine import (
    ActionRequest,
    Actor,
    EventIntent,
    Outcome,
    TaskState,
    apply_actions,
    move_task,
)
from tests.support.workflows import (
    ANNOTATE,
    ARCHIVE,
    COMPLETE,
    REVIEW,
    ROUTER,
    START,
    basic_workflow,
    router_workflow,
    submit_to_complete_workflow,
)

PROJECT = "9a3c1f0e-0000-4000-8000-00000000abcd"
ALICE = Actor("alice")
BOB = Actor("bob")
MANAGER = Actor("manager", may_override=True)
HOOK = "https://hooks.example/in"


def parse(document: dict[str, Any]) -> Workflow:
    workflow = Workflow.model_validate(document)
    graph.validate(workflow)
    return workflow


def task(
    n: int,
    stage: str = ANNOTATE,
    status: TaskStatus = TaskStatus.NEW,
    assignee: str | None = None,
) -> TaskState:
    return TaskState(
        task_uuid=str(uuid.UUID(int=0x1000 + n, version=4)),
        data_hash=str(uuid.UUID(int=0x2000 + n, version=4)),
        label_hash=str(uuid.UUID(int=0x3000 + n, version=4)),
        stage_uuid=stage,
        status=status,
        assignee=assignee,
    )


def act(
    workflow: Workflow,
    stage_uuid: str,
    tasks: Sequence[TaskState],
    *requests: tuple[TaskState | str, Action] | tuple[TaskState | str, Action, str],
    actor: Actor = ALICE,
) -> Outcome:
    batch = [
        ActionRequest(
            r[0].task_uuid if isinstance(r[0], TaskState) else r[0],
            r[1],
            r[2] if len(r) > 2 else None,
        )
        for r in requests
    ]
    return apply_actions(
        workflow, PROJECT, stage_uuid, {t.task_uuid: t for t in tasks}, batch, actor
    )


def after(outcome: Outcome) -> list[tuple[str, TaskStatus, str | None]]:
    return [(t.after.stage_uuid, t.after.status, t.after.assignee) for t in outcome.transitions]


def of_type(outcome: Outcome, event_type: str) -> list[EventIntent]:
    return [e for e in outcome.events if e.event_type == event_type]


# --- every action at every stage type -----------------------------------------------------

#: Router 100/0/0, so a submitted task deterministically rests at Review.
ALL_TYPES = router_workflow((100, 0, 0), archive=True)
STAGE_OF_TYPE = {
    StageType.START: START,
    StageType.ANNOTATE: ANNOTATE,
    StageType.REVIEW: REVIEW,
    StageType.PERCENTAGE_ROUTER: ROUTER,
    StageType.COMPLETE: COMPLETE,
    StageType.ARCHIVE: ARCHIVE,
}
RESTING_STATUS = {StageType.COMPLETE: TaskStatus.COMPLETED, StageType.ARCHIVE: TaskStatus.ARCHIVED}

#: (stage type, action) -> (stage, status, assignee) afterwards; anything absent is refused.
ALLOWED: dict[tuple[StageType, Action], tuple[str, TaskStatus, str | None]] = {
    (StageType.ANNOTATE, Action.SUBMIT): (REVIEW, TaskStatus.NEW, None),
    (StageType.ANNOTATE, Action.SKIP): (ANNOTATE, TaskStatus.SKIPPED, None),
    (StageType.ANNOTATE, Action.ASSIGN): (ANNOTATE, TaskStatus.ASSIGNED, "alice"),
    (StageType.ANNOTATE, Action.RELEASE): (ANNOTATE, TaskStatus.RELEASED, None),
    (StageType.REVIEW, Action.APPROVE): (COMPLETE, TaskStatus.COMPLETED, None),
    (StageType.REVIEW, Action.REJECT): (ANNOTATE, TaskStatus.REOPENED, None),
    (StageType.REVIEW, Action.ASSIGN): (REVIEW, TaskStatus.ASSIGNED, "alice"),
    (StageType.REVIEW, Action.RELEASE): (REVIEW, TaskStatus.RELEASED, None),
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("stage_type", list(StageType))
def test_every_action_at_every_stage_type(stage_type: StageType, action: Action) -> None:
    workflow = parse(ALL_TYPES)
    stage_uuid = STAGE_OF_TYPE[stage_type]
    status = RESTING_STATUS.get(stage_type, TaskStatus.NEW)
    assignee = None
    if action == Action.RELEASE and status == TaskStatus.NEW:
        status, assignee = TaskStatus.ASSIGNED, "alice"  # only assigned tasks can be released
    subject = task(1, stage_uuid, status, assignee)
    expected = ALLOWED.get((stage_type, action))
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            act(workflow, stage_uuid, [subject], (subject, action))
        assert f"task {subject.task_uuid}" in caught.value.message
        if status in RESTING_STATUS.values():
            assert f"is {status} and accepts no more actions" in caught.value.message
        else:
            assert f"{action} is not possible at {stage_type} stage" in caught.value.message
    else:
        outcome = act(workflow, stage_uuid, [subject], (subject, action))
        assert after(outcome) == [expected]
        (transition,) = outcome.transitions
        assert transition.before == subject
        assert transition.action == action.value
        assert (transition.after.data_hash, transition.after.label_hash) == (
            subject.data_hash,
            subject.label_hash,
        )


def test_release_of_an_unassigned_task_is_refused() -> None:
    workflow = parse(basic_workflow())
    subject = task(1)
    with pytest.raises(InvalidTransition, match=f"task {subject.task_uuid} is not assigned"):
        act(workflow, ANNOTATE, [subject], (subject, Action.RELEASE))


# --- batches ------------------------------------------------------------------------------


def test_one_bad_action_refuses_the_whole_batch() -> None:
    workflow = parse(basic_workflow(HOOK, HOOK))
    good1, bad, good2 = task(1), task(2), task(3)
    tasks = [good1, bad, good2]
    snapshot = list(tasks)
    with pytest.raises(InvalidTransition) as caught:
        act(
            workflow,
            ANNOTATE,
            tasks,
            (good1, Action.SUBMIT),
            (bad, Action.APPROVE),
            (good2, Action.SUBMIT),
        )
    assert bad.task_uuid in caught.value.message
    assert good1.task_uuid not in caught.value.message
    assert tasks == snapshot
    # The same batch without the bad action goes through.
    outcome = act(workflow, ANNOTATE, tasks, (good1, Action.SUBMIT), (good2, Action.SUBMIT))
    assert len(outcome.transitions) == 2


def test_a_task_twice_in_one_batch_is_refused() -> None:
    workflow = parse(basic_workflow())
    subject = task(1)
    with pytest.raises(InvalidTransition, match=f"task {subject.task_uuid} appears twice"):
        act(workflow, ANNOTATE, [subject], (subject, Action.ASSIGN), (subject, Action.SUBMIT))


def test_an_unknown_task_is_not_found() -> None:
    workflow = parse(basic_workflow())
    with pytest.raises(NotFound, match="task ghost does not exist"):
        act(workflow, ANNOTATE, [task(1)], (task(1), Action.SUBMIT), ("ghost", Action.SUBMIT))


def test_an_unknown_stage_is_not_found() -> None:
    workflow = parse(basic_workflow())
    with pytest.raises(NotFound, match="stage nowhere is not in this workflow"):
        act(workflow, "nowhere", [task(1)], (task(1), Action.SUBMIT))


def test_an_empty_batch_is_refused() -> None:
    workflow = parse(basic_workflow())
    with pytest.raises(InvalidTransition, match="no actions"):
        act(workflow, ANNOTATE, [task(1)])


def test_a_task_at_another_stage_is_refused() -> None:
    workflow = parse(basic_workflow())
    subject = task(1, REVIEW)
    with pytest.raises(InvalidTransition) as caught:
        act(workflow, ANNOTATE, [subject], (subject, Action.SUBMIT))
    assert f"task {subject.task_uuid} is at stage {REVIEW}" in caught.value.message
    assert "'Annotate'" in caught.value.message


@pytest.mark.parametrize("stage_uuid", [ANNOTATE, COMPLETE])
def test_submitting_a_completed_task_is_refused(stage_uuid: str) -> None:
    workflow = parse(basic_workflow(HOOK, HOOK))
    done = task(1, COMPLETE, TaskStatus.COMPLETED)
    with pytest.raises(InvalidTransition) as caught:
        act(workflow, stage_uuid, [done], (done, Action.SUBMIT))
    assert done.task_uuid in caught.value.message


# --- assignment -----------------------------------------------------------------------------


def test_assign_defaults_to_the_actor_and_can_name_someone_else() -> None:
    workflow = parse(basic_workflow())
    one, two = task(1), task(2)
    outcome = act(
        workflow, ANNOTATE, [one, two], (one, Action.ASSIGN), (two, Action.ASSIGN, "carol")
    )
    assert after(outcome) == [
        (ANNOTATE, TaskStatus.ASSIGNED, "alice"),
        (ANNOTATE, TaskStatus.ASSIGNED, "carol"),
    ]


@pytest.mark.parametrize("action", [Action.SUBMIT, Action.SKIP, Action.RELEASE, Action.ASSIGN])
def test_a_task_assigned_to_someone_else_is_refused(action: Action) -> None:
    workflow = parse(basic_workflow())
    held = task(1, status=TaskStatus.ASSIGNED, assignee="alice")
    with pytest.raises(InvalidTransition) as caught:
        act(workflow, ANNOTATE, [held], (held, action), actor=BOB)
    assert f"task {held.task_uuid}" in caught.value.message
    assert "assigned to alice" in caught.value.message


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (Action.SUBMIT, (REVIEW, TaskStatus.NEW, None)),
        (Action.SKIP, (ANNOTATE, TaskStatus.SKIPPED, None)),
        (Action.RELEASE, (ANNOTATE, TaskStatus.RELEASED, None)),
        (Action.ASSIGN, (ANNOTATE, TaskStatus.ASSIGNED, "manager")),
    ],
)
def test_a_manager_overrides_someone_elses_assignment(
    action: Action, expected: tuple[str, TaskStatus, str | None]
) -> None:
    workflow = parse(basic_workflow())
    held = task(1, status=TaskStatus.ASSIGNED, assignee="alice")
    assert after(act(workflow, ANNOTATE, [held], (held, action), actor=MANAGER)) == [expected]


def test_the_assignee_acts_on_their_own_task() -> None:
    workflow = parse(basic_workflow())
    held = task(1, REVIEW, TaskStatus.ASSIGNED, "bob")
    outcome = act(workflow, REVIEW, [held], (held, Action.APPROVE), actor=BOB)
    assert after(outcome) == [(COMPLETE, TaskStatus.COMPLETED, None)]


def test_reject_reopens_at_annotate_and_resubmit_goes_back_to_review() -> None:
    workflow = parse(basic_workflow())
    reviewed = task(1, REVIEW, TaskStatus.ASSIGNED, "alice")
    (rejected,) = act(workflow, REVIEW, [reviewed], (reviewed, Action.REJECT)).transitions
    assert (rejected.after.stage_uuid, rejected.after.status) == (ANNOTATE, TaskStatus.REOPENED)
    assert rejected.after.assignee is None
    (resubmitted,) = act(
        workflow, ANNOTATE, [rejected.after], (rejected.after, Action.SUBMIT)
    ).transitions
    assert (resubmitted.after.stage_uuid, resubmitted.after.status) == (REVIEW, TaskStatus.NEW)


# --- events ---------------------------------------------------------------------------------


def test_one_submit_batch_is_one_event_listing_tasks_in_action_order() -> None:
    workflow = parse(basic_workflow(annotate_webhook=HOOK))
    one, two, three = task(1), task(2), task(3)
    outcome = act(
        workflow,
        ANNOTATE,
        [one, two, three],
        (three, Action.SUBMIT),
        (one, Action.SUBMIT),
        (two, Action.SUBMIT),
    )
    assert outcome.events == (
        EventIntent(
            TASK_SUBMITTED,
            ANNOTATE,
            {
                "project_hash": PROJECT,
                "data_hashes": [three.data_hash, one.data_hash, two.data_hash],
                "label_hashes": [three.label_hash, one.label_hash, two.label_hash],
            },
        ),
    )


def test_a_single_submit_lists_one_task_and_other_actions_are_not_listed() -> None:
    workflow = parse(basic_workflow(annotate_webhook=HOOK))
    one, two, three = task(1), task(2), task(3)
    outcome = act(
        workflow,
        ANNOTATE,
        [one, two, three],
        (one, Action.ASSIGN),
        (two, Action.SUBMIT),
        (three, Action.SKIP),
    )
    (event,) = outcome.events
    assert event.payload["data_hashes"] == [two.data_hash]
    assert event.payload["label_hashes"] == [two.label_hash]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(basic_workflow(), id="no-webhooks"),
        pytest.param(basic_workflow(complete_webhook=HOOK), id="only-complete-webhook"),
    ],
)
def test_no_annotate_webhook_no_submitted_event(document: dict[str, Any]) -> None:
    workflow = parse(document)
    one, two = task(1), task(2)
    outcome = act(workflow, ANNOTATE, [one, two], (one, Action.SUBMIT), (two, Action.SUBMIT))
    assert outcome.events == ()


@pytest.mark.parametrize("action", [Action.ASSIGN, Action.SKIP])
def test_no_submit_no_submitted_event(action: Action) -> None:
    workflow = parse(basic_workflow(HOOK, HOOK))
    assert act(workflow, ANNOTATE, [task(1)], (task(1), action)).events == ()


def test_approving_into_complete_fires_one_completed_event_per_task() -> None:
    workflow = parse(basic_workflow(HOOK, HOOK))
    one, two, three = task(1, REVIEW), task(2, REVIEW), task(3, REVIEW)
    outcome = act(
        workflow,
        REVIEW,
        [one, two, three],
        (two, Action.APPROVE),
        (three, Action.REJECT),
        (one, Action.APPROVE),
    )
    assert outcome.events == tuple(
        EventIntent(
            TASK_COMPLETED,
            COMPLETE,
            {"label_hash": t.label_hash, "project_hash": PROJECT, "data_hash": t.data_hash},
        )
        for t in (two, one)
    )
    assert list(outcome.events[0].payload) == ["label_hash", "project_hash", "data_hash"]


def test_no_complete_webhook_no_completed_event() -> None:
    workflow = parse(basic_workflow(annotate_webhook=HOOK))
    reviewed = task(1, REVIEW)
    outcome = act(workflow, REVIEW, [reviewed], (reviewed, Action.APPROVE))
    assert after(outcome) == [(COMPLETE, TaskStatus.COMPLETED, None)]
    assert outcome.events == ()


def test_submit_straight_to_complete_fires_both_events() -> None:
    workflow = parse(submit_to_complete_workflow(HOOK, HOOK))
    one, two = task(1), task(2)
    outcome = act(workflow, ANNOTATE, [one, two], (one, Action.SUBMIT), (two, Action.SUBMIT))
    assert after(outcome) == [(COMPLETE, TaskStatus.COMPLETED, None)] * 2
    (submitted,) = of_type(outcome, TASK_SUBMITTED)
    assert submitted.stage_uuid == ANNOTATE
    assert submitted.payload["data_hashes"] == [one.data_hash, two.data_hash]
    completed = of_type(outcome, TASK_COMPLETED)
    assert [(e.stage_uuid, e.payload["data_hash"]) for e in completed] == [
        (COMPLETE, one.data_hash),
        (COMPLETE, two.data_hash),
    ]


@pytest.mark.parametrize(
    ("annotate_hook", "complete_hook", "types"),
    [
        (None, HOOK, [TASK_COMPLETED]),
        (HOOK, None, [TASK_SUBMITTED]),
        (None, None, []),
    ],
)
def test_submit_straight_to_complete_fires_only_configured_events(
    annotate_hook: str | None, complete_hook: str | None, types: list[str]
) -> None:
    workflow = parse(submit_to_complete_workflow(annotate_hook, complete_hook))
    outcome = act(workflow, ANNOTATE, [task(1)], (task(1), Action.SUBMIT))
    assert [e.event_type for e in outcome.events] == types


def test_moving_a_task_to_complete_fires_the_completed_event() -> None:
    workflow = parse(basic_workflow(complete_webhook=HOOK))
    subject = task(1, status=TaskStatus.ASSIGNED, assignee="alice")
    outcome = move_task(workflow, PROJECT, subject, COMPLETE)
    assert after(outcome) == [(COMPLETE, TaskStatus.COMPLETED, None)]
    assert outcome.transitions[0].action == "MOVE"
    assert outcome.events == (
        EventIntent(
            TASK_COMPLETED,
            COMPLETE,
            {
                "label_hash": subject.label_hash,
                "project_hash": PROJECT,
                "data_hash": subject.data_hash,
            },
        ),
    )


def test_moving_a_task_already_at_complete_fires_nothing_more() -> None:
    workflow = parse(basic_workflow(complete_webhook=HOOK))
    done = task(1, COMPLETE, TaskStatus.COMPLETED)
    assert move_task(workflow, PROJECT, done, COMPLETE).events == ()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (ANNOTATE, (ANNOTATE, TaskStatus.NEW, None)),
        (REVIEW, (REVIEW, TaskStatus.NEW, None)),
        (ARCHIVE, (ARCHIVE, TaskStatus.ARCHIVED, None)),
    ],
)
def test_moving_elsewhere_fires_nothing(
    target: str, expected: tuple[str, TaskStatus, str | None]
) -> None:
    workflow = parse(router_workflow(archive=True, annotate_webhook=HOOK, complete_webhook=HOOK))
    done = task(1, COMPLETE, TaskStatus.COMPLETED)
    outcome = move_task(workflow, PROJECT, done, target)
    assert after(outcome) == [expected]
    assert outcome.events == ()


@pytest.mark.parametrize("target", [START, ROUTER])
def test_a_task_cannot_be_moved_to_where_it_cannot_rest(target: str) -> None:
    workflow = parse(router_workflow())
    with pytest.raises(InvalidTransition, match="cannot rest at"):
        move_task(workflow, PROJECT, task(1), target)


def test_moving_to_an_unknown_stage_is_not_found() -> None:
    with pytest.raises(NotFound, match="stage nowhere"):
        move_task(parse(basic_workflow()), PROJECT, task(1), "nowhere")


@pytest.mark.parametrize(
    ("percentages", "expected", "completed_events"),
    [
        ((100, 0, 0), (REVIEW, TaskStatus.NEW, None), 0),
        ((0, 100, 0), (COMPLETE, TaskStatus.COMPLETED, None), 1),
        ((0, 0, 100), (ARCHIVE, TaskStatus.ARCHIVED, None), 0),
    ],
)
def test_a_submit_passes_through_the_router(
    percentages: tuple[int, int, int],
    expected: tuple[str, TaskStatus, str | None],
    completed_events: int,
) -> None:
    workflow = parse(
        router_workflow(percentages, archive=True, annotate_webhook=HOOK, complete_webhook=HOOK)
    )
    outcome = act(workflow, ANNOTATE, [task(1)], (task(1), Action.SUBMIT))
    assert after(outcome) == [expected]
    assert len(of_type(outcome, TASK_SUBMITTED)) == 1
    assert len(of_type(outcome, TASK_COMPLETED)) == completed_events


def test_a_resubmitted_task_takes_the_same_router_branch() -> None:
    workflow = parse(router_workflow((50, 50)))
    tasks = [task(n) for n in range(40)]
    first = act(workflow, ANNOTATE, tasks, *[(t, Action.SUBMIT) for t in tasks])
    reviewed = [t.after for t in first.transitions if t.after.stage_uuid == REVIEW]
    assert 0 < len(reviewed) < len(tasks)  # both branches taken
    rejected = act(workflow, REVIEW, reviewed, *[(t, Action.REJECT) for t in reviewed])
    reopened = [t.after for t in rejected.transitions]
    again = act(workflow, ANNOTATE, reopened, *[(t, Action.SUBMIT) for t in reopened])
    assert {t.after.stage_uuid for t in again.transitions} == {REVIEW}
