"""Random workflows, random batches: the machine agrees with a model of the rules.

The model keeps its own task dict and its own idea of what each batch should do; every
outcome is checked against it before being applied. Invalid batches are drawn on purpose
and must change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from stagehook.errors import InvalidTransition, NotFound, StagehookError
from stagehook.events import TASK_COMPLETED, TASK_SUBMITTED
from stagehook.workflow import graph
from stagehook.workflow.stages import (
    Action,
    Pathway,
    Stage,
    StageType,
    TaskStatus,
    WebhookSpec,
    Workflow,
)
from stagehook.workflow.task_machine import (
    ActionRequest,
    Actor,
    EventIntent,
    Outcome,
    TaskState,
    apply_actions,
    move_task,
)

PROJECT = "5d41402a-bc4b-4a76-b971-9d911017c592"
ACTORS = [Actor("alice"), Actor("bob"), Actor("manager", may_override=True)]
UNKNOWN_TASK = "00000000-0000-4000-8000-00000000dead"
ACTION_AT: dict[StageType, list[Action]] = {
    StageType.ANNOTATE: [Action.SUBMIT, Action.SKIP, Action.ASSIGN, Action.RELEASE],
    StageType.REVIEW: [Action.APPROVE, Action.REJECT, Action.ASSIGN, Action.RELEASE],
}
MOVES = {Action.SUBMIT: "submit", Action.APPROVE: "approve", Action.REJECT: "reject"}
ASSIGNEES = st.none() | st.sampled_from(["alice", "bob", "carol"])
ANY_ACTION = st.sampled_from(list(Action))
ANY_ACTOR = st.sampled_from(ACTORS)
NOISY = st.integers(0, 3).map(lambda n: n == 0)
DUPLICATES = st.integers(0, 9).map(lambda n: n == 0)
#: (index into the stage's tasks, Annotate action, assignee); at Review, AS_REVIEW maps
#: the action to its Review counterpart.
PLAUSIBLE_BATCH = st.lists(
    st.tuples(
        st.integers(0, 5),
        # Moving actions twice as likely, so tasks travel the graph rather than idle.
        st.sampled_from(
            [Action.SUBMIT, Action.SUBMIT, Action.SKIP, Action.SKIP, Action.ASSIGN, Action.RELEASE]
        ),
        ASSIGNEES,
    ),
    min_size=1,
    max_size=5,
)
AS_REVIEW = {Action.SUBMIT: Action.APPROVE, Action.SKIP: Action.REJECT}
EXTRA_KINDS = [StageType.ANNOTATE, StageType.REVIEW, StageType.PERCENTAGE_ROUTER]
SLOTS = {StageType.ANNOTATE: ["submit"], StageType.REVIEW: ["approve", "reject"]}


def stage_id(n: int) -> str:
    return str(uuid.UUID(int=0xABC000 + n, version=4))


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    """A valid graph: START -> Annotate -> (Annotate | Review | Router)* -> Complete.

    A chain through every work stage and router keeps everything reachable; the other
    pathways point anywhere but START, and routers only point at later routers so routers
    never loop among themselves. An Archive hangs off one spare pathway if there is one.
    """
    extra = draw(st.lists(st.sampled_from(EXTRA_KINDS), max_size=4), label="stage types")
    kinds = [StageType.ANNOTATE, *extra]
    chain = [
        *((stage_id(i), kind) for i, kind in enumerate(kinds)),
        (stage_id(90), StageType.COMPLETE),
    ]
    want_archive = draw(st.booleans())
    archive = (stage_id(91), StageType.ARCHIVE)
    targets = [*chain, archive] if want_archive else chain

    edges: dict[str, list[tuple[str, str, int | None]]] = {}
    spare: list[tuple[str, int]] = []  # (stage uuid, pathway index) free for the archive
    for index, (uuid_, kind) in enumerate(chain[:-1]):
        if kind == StageType.PERCENTAGE_ROUTER:
            count = draw(st.integers(2, 3))
            cuts = sorted(
                draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1))
            )
            bounds = [0, *cuts, 100]
            shares: list[int | None] = [bounds[i + 1] - bounds[i] for i in range(count)]
            names = [f"branch {i}" for i in range(count)]
            allowed = [
                t
                for position, t in enumerate(targets)
                if t[1] != StageType.PERCENTAGE_ROUTER or position > index
            ]
        else:
            names = SLOTS[kind]
            shares = [None] * len(names)
            allowed = targets
        chained = draw(st.integers(0, len(names) - 1))
        pathways = []
        for slot, (name, share) in enumerate(zip(names, shares, strict=True)):
            if slot == chained:
                destination = chain[index + 1][0]
            else:
                destination = draw(st.sampled_from(allowed))[0]
                spare.append((uuid_, slot))
            pathways.append((name, destination, share))
        edges[uuid_] = pathways
    stages_with_archive = chain
    if want_archive and spare:
        owner, slot = draw(st.sampled_from(spare))
        name, _, share = edges[owner][slot]
        edges[owner][slot] = (name, archive[0], share)
        stages_with_archive = [*chain, archive]

    webhooked = {
        uuid_
        for uuid_, kind in stages_with_archive
        if kind in (StageType.ANNOTATE, StageType.COMPLETE) and draw(st.booleans())
    }
    start = Stage(
        uuid=stage_id(99),
        title="Start",
        stage_type=StageType.START,
        pathways=(Pathway(name="next", destination_uuid=chain[0][0]),),
    )
    stages = [start] + [
        Stage(
            uuid=uuid_,
            title=f"{kind.title()} {n}",
            stage_type=kind,
            pathways=tuple(
                Pathway(name=name, destination_uuid=dest, percentage=share)
                for name, dest, share in edges.get(uuid_, [])
            ),
            webhook=WebhookSpec(url=f"https://hooks.example/{uuid_}")
            if uuid_ in webhooked
            else None,
        )
        for n, (uuid_, kind) in enumerate(stages_with_archive)
    ]
    workflow = Workflow(stages=tuple(draw(st.permutations(stages))))
    graph.validate(workflow)  # the generator only builds valid graphs
    return workflow


class Refused(Exception):
    """The model's verdict that a batch must be refused, with the error class to expect."""

    def __init__(
        self, reason: str, error: type[StagehookError] = InvalidTransition, task: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.task_uuid = task


class WorkflowMachine(RuleBasedStateMachine):
    workflow: Workflow
    tasks: dict[str, TaskState]

    @initialize(workflow=workflows(), data=st.data())
    def setup(self, workflow: Workflow, data: st.DataObject) -> None:
        self.workflow = workflow
        count = data.draw(st.integers(1, 6), label="tasks")
        ids = data.draw(
            st.lists(st.uuids(version=4), min_size=3 * count, max_size=3 * count, unique=True)
        )
        first = graph.initial_stage(workflow)
        self.tasks = {}
        for n in range(count):
            task_uuid, data_hash, label_hash = (str(u) for u in ids[3 * n : 3 * n + 3])
            self.tasks[task_uuid] = TaskState(
                task_uuid, data_hash, label_hash, first, TaskStatus.NEW
            )
        # Strategies built once: building them per step dominates the run time.
        self.any_task = st.sampled_from(sorted(self.tasks))
        self.any_stage = st.sampled_from(workflow.stages)
        self.any_batch = st.lists(
            st.builds(ActionRequest, self.any_task | st.just(UNKNOWN_TASK), ANY_ACTION, ASSIGNEES),
            min_size=1,
            max_size=4,
        )

    # --- the model ------------------------------------------------------------------------

    def stage(self, stage_uuid: str) -> Stage:
        found = self.workflow.stage(stage_uuid)
        assert found is not None
        return found

    def arrival(self, task: TaskState, destination: str, via: Action | None) -> TaskState:
        resting = self.stage(graph.route(self.workflow, destination, task.task_uuid))
        status = {
            StageType.COMPLETE: TaskStatus.COMPLETED,
            StageType.ARCHIVE: TaskStatus.ARCHIVED,
        }.get(resting.stage_type)
        if status is None:
            status = TaskStatus.REOPENED if via == Action.REJECT else TaskStatus.NEW
        return TaskState(
            task.task_uuid, task.data_hash, task.label_hash, resting.uuid, status, None
        )

    def expect(
        self, stage: Stage, requests: Sequence[ActionRequest], actor: Actor
    ) -> list[TaskState]:
        """The task states after the batch, or ``Refused`` for the first bad request."""
        if not requests:
            raise Refused("empty batch")
        seen: set[str] = set()
        out = []
        for request in requests:
            who = request.task_uuid
            if who in seen:
                raise Refused("duplicate", task=who)
            seen.add(who)
            task = self.tasks.get(who)
            if task is None:
                raise Refused("unknown task", NotFound, who)
            if task.stage_uuid != stage.uuid:
                raise Refused("at another stage", task=who)
            if task.status in (TaskStatus.COMPLETED, TaskStatus.ARCHIVED):
                raise Refused("finished", task=who)
            if request.action not in ACTION_AT.get(stage.stage_type, []):
                raise Refused("not done at this stage type", task=who)
            if (
                task.status == TaskStatus.ASSIGNED
                and task.assignee != actor.name
                and not actor.may_override
            ):
                raise Refused("assigned to someone else", task=who)
            if request.action in MOVES:
                pathway = stage.pathway(MOVES[request.action])
                assert pathway is not None
                out.append(self.arrival(task, pathway.destination_uuid, request.action))
            elif request.action == Action.ASSIGN:
                assignee = request.assignee or actor.name
                out.append(self.replaced(task, TaskStatus.ASSIGNED, assignee))
            elif request.action == Action.RELEASE:
                if task.status != TaskStatus.ASSIGNED:
                    raise Refused("release of an unassigned task", task=who)
                out.append(self.replaced(task, TaskStatus.RELEASED, None))
            else:
                out.append(self.replaced(task, TaskStatus.SKIPPED, None))
        return out

    @staticmethod
    def replaced(task: TaskState, status: TaskStatus, assignee: str | None) -> TaskState:
        return TaskState(
            task.task_uuid, task.data_hash, task.label_hash, task.stage_uuid, status, assignee
        )

    def completed_events(self, afters: Sequence[TaskState]) -> list[EventIntent]:
        complete = self.workflow.of_type(StageType.COMPLETE)[0]
        if complete.webhook is None:
            return []
        return [
            EventIntent(
                TASK_COMPLETED,
                complete.uuid,
                {"label_hash": a.label_hash, "project_hash": PROJECT, "data_hash": a.data_hash},
            )
            for a in afters
            if a.stage_uuid == complete.uuid and self.tasks[a.task_uuid].stage_uuid != complete.uuid
        ]

    def check_and_apply(self, outcome: Outcome, expected: Sequence[TaskState]) -> None:
        assert [t.after for t in outcome.transitions] == list(expected)
        for transition in outcome.transitions:
            assert transition.before == self.tasks[transition.before.task_uuid]
        completed = [e for e in outcome.events if e.event_type == TASK_COMPLETED]
        assert completed == self.completed_events(expected)
        for transition in outcome.transitions:
            self.tasks[transition.after.task_uuid] = transition.after

    # --- rules ----------------------------------------------------------------------------

    def draw_batch(self, data: st.DataObject) -> tuple[Stage, list[ActionRequest]]:
        """Mostly plausible batches (tasks at a work stage, actions that stage takes), the
        rest anything at all: unknown or misplaced tasks, duplicates, wrong stages."""
        workable = sorted(
            {
                t.stage_uuid
                for t in self.tasks.values()
                if self.stage(t.stage_uuid).stage_type in ACTION_AT
            }
        )
        if not workable or data.draw(NOISY, label="noisy"):
            return data.draw(self.any_stage, label="stage"), data.draw(self.any_batch)
        stage = self.stage(workable[data.draw(st.integers(0, len(workable) - 1))])
        here = sorted(u for u, t in self.tasks.items() if t.stage_uuid == stage.uuid)
        picks = data.draw(PLAUSIBLE_BATCH, label="batch")
        requests = []
        for index, drawn, assignee in picks:
            task = self.tasks[here[index % len(here)]]
            action = drawn
            if stage.stage_type == StageType.REVIEW:
                action = AS_REVIEW.get(drawn, drawn)
            if action == Action.RELEASE and task.status != TaskStatus.ASSIGNED:
                action = Action.ASSIGN
            requests.append(ActionRequest(task.task_uuid, action, assignee))
        if not data.draw(DUPLICATES, label="duplicates"):
            requests = list({r.task_uuid: r for r in reversed(requests)}.values())[::-1]
        return stage, requests

    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        stage, requests = self.draw_batch(data)
        actor = data.draw(ANY_ACTOR, label="actor")
        snapshot = dict(self.tasks)
        try:
            expected = self.expect(stage, requests, actor)
        except Refused as refused:
            try:
                apply_actions(self.workflow, PROJECT, stage.uuid, self.tasks, requests, actor)
            except StagehookError as error:
                assert type(error) is refused.error, (error, refused)
                assert refused.task_uuid in error.message
            else:
                raise AssertionError(f"batch should be refused: {refused}") from None
            assert self.tasks == snapshot  # a refused batch changes nothing
            event(f"refused: {refused.reason}")
            return

        outcome = apply_actions(self.workflow, PROJECT, stage.uuid, self.tasks, requests, actor)
        submits = [self.tasks[r.task_uuid] for r in requests if r.action == Action.SUBMIT]
        submitted = [e for e in outcome.events if e.event_type == TASK_SUBMITTED]
        fires = bool(submits) and stage.stage_type == StageType.ANNOTATE and stage.webhook
        if fires:
            (intent,) = submitted
            assert intent.stage_uuid == stage.uuid
            assert intent.payload == {
                "project_hash": PROJECT,
                "data_hashes": [t.data_hash for t in submits],
                "label_hashes": [t.label_hash for t in submits],
            }
        else:
            assert submitted == []
        self.check_and_apply(outcome, expected)
        event(f"accepted batch of {len(requests)}")
        for intent in outcome.events:
            event(f"fired {intent.event_type}")

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        task = self.tasks[data.draw(self.any_task, label="task")]
        target = data.draw(self.any_stage, label="target")
        if target.stage_type in (StageType.START, StageType.PERCENTAGE_ROUTER):
            snapshot = dict(self.tasks)
            try:
                move_task(self.workflow, PROJECT, task, target.uuid)
            except InvalidTransition:
                assert self.tasks == snapshot
                return
            raise AssertionError(f"a task cannot rest at {target.stage_type}")
        outcome = move_task(self.workflow, PROJECT, task, target.uuid)
        assert [e.event_type for e in outcome.events if e.event_type == TASK_SUBMITTED] == []
        self.check_and_apply(outcome, [self.arrival(task, target.uuid, None)])
        for intent in outcome.events:
            event(f"move fired {intent.event_type}")

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def tasks_rest_at_exactly_one_real_stage(self) -> None:
        for task in self.tasks.values():
            found = [s for s in self.workflow.stages if s.uuid == task.stage_uuid]
            assert len(found) == 1
            (stage,) = found
            assert stage.stage_type not in (StageType.START, StageType.PERCENTAGE_ROUTER)
            at_complete = stage.stage_type == StageType.COMPLETE
            at_archive = stage.stage_type == StageType.ARCHIVE
            assert (task.status == TaskStatus.COMPLETED) == at_complete
            assert (task.status == TaskStatus.ARCHIVED) == at_archive
            assert (task.assignee is not None) == (task.status == TaskStatus.ASSIGNED)


WorkflowMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    # Explaining a failure replays it hundreds of times (minutes); the shrunk steps suffice.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
TestWorkflowMachine = WorkflowMachine.TestCase
