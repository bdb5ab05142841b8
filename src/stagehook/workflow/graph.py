"""Workflow graph rules: validation, live-edit checks and deterministic routing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from stagehook.errors import Conflict, InvalidWorkflow
from stagehook.workflow.stages import (
    REQUIRED_PATHWAYS,
    WEBHOOK_STAGE_TYPES,
    Stage,
    StageType,
    Workflow,
)

WEBHOOK_STAGE_MESSAGE = "webhooks can only be added to Annotate and Complete stages"


def validate(workflow: Workflow) -> None:
    """Refuse a graph that cannot carry tasks; each message names the stage at fault."""
    by_uuid: dict[str, Stage] = {}
    for stage in workflow.stages:
        if stage.uuid in by_uuid:
            raise InvalidWorkflow(f"stage uuid {stage.uuid!r} is used twice")
        by_uuid[stage.uuid] = stage

    starts = workflow.of_type(StageType.START)
    if len(starts) != 1:
        raise InvalidWorkflow(f"a workflow needs exactly one START stage, found {len(starts)}")
    completes = workflow.of_type(StageType.COMPLETE)
    if len(completes) != 1:
        raise InvalidWorkflow(
            f"a workflow needs exactly one COMPLETE stage, found {len(completes)}"
        )

    for stage in workflow.stages:
        _validate_stage(stage, by_uuid)

    start_next = starts[0].pathway("next")
    assert start_next is not None  # checked by _validate_stage
    if by_uuid[start_next.destination_uuid].stage_type != StageType.ANNOTATE:
        raise InvalidWorkflow("the START stage's 'next' pathway must lead to an ANNOTATE stage")

    reachable = _reachable(starts[0].uuid, by_uuid)
    unreachable = [s.title for s in workflow.stages if s.uuid not in reachable]
    if unreachable:
        raise InvalidWorkflow(f"stages not reachable from START: {', '.join(unreachable)}")
    _refuse_router_cycles(by_uuid)


def _validate_stage(stage: Stage, by_uuid: Mapping[str, Stage]) -> None:
    name = f"stage {stage.title!r}"
    if stage.webhook is not None and stage.stage_type not in WEBHOOK_STAGE_TYPES:
        raise InvalidWorkflow(WEBHOOK_STAGE_MESSAGE)
    names = [p.name for p in stage.pathways]
    if len(set(names)) != len(names):
        raise InvalidWorkflow(f"{name} has two pathways with the same name")
    for pathway in stage.pathways:
        target = by_uuid.get(pathway.destination_uuid)
        if target is None:
            raise InvalidWorkflow(
                f"{name}: pathway {pathway.name!r} leads to unknown stage "
                f"{pathway.destination_uuid!r}"
            )
        if target.stage_type == StageType.START:
            raise InvalidWorkflow(f"{name}: pathway {pathway.name!r} may not lead back to START")
        if pathway.percentage is not None and stage.stage_type != StageType.PERCENTAGE_ROUTER:
            raise InvalidWorkflow(f"{name}: only PERCENTAGE_ROUTER pathways carry a percentage")

    if stage.stage_type == StageType.PERCENTAGE_ROUTER:
        if len(stage.pathways) < 2:
            raise InvalidWorkflow(f"{name}: a percentage router needs at least two pathways")
        if any(p.percentage is None for p in stage.pathways):
            raise InvalidWorkflow(f"{name}: every router pathway needs an integer percentage")
        total = sum(p.percentage or 0 for p in stage.pathways)
        if total != 100:
            raise InvalidWorkflow(f"{name}: router percentages must sum to 100, not {total}")
        return

    required = REQUIRED_PATHWAYS[stage.stage_type]
    missing = required - set(names)
    extra = set(names) - required
    if missing:
        raise InvalidWorkflow(
            f"{name} ({stage.stage_type}) needs pathway(s): {', '.join(sorted(missing))}"
        )
    if extra:
        allowed = ", ".join(sorted(required)) or "none"
        raise InvalidWorkflow(
            f"{name} ({stage.stage_type}) has unexpected pathway(s) "
            f"{', '.join(sorted(extra))}; allowed: {allowed}"
        )


def _reachable(start: str, by_uuid: Mapping[str, Stage]) -> set[str]:
    seen = {start}
    frontier = [start]
    while frontier:
        for pathway in by_uuid[frontier.pop()].pathways:
            if pathway.destination_uuid not in seen:
                seen.add(pathway.destination_uuid)
                frontier.append(pathway.destination_uuid)
    return seen


def _refuse_router_cycles(by_uuid: Mapping[str, Stage]) -> None:
    """A loop made only of routers would route a task forever."""
    routers = {u for u, s in by_uuid.items() if s.stage_type == StageType.PERCENTAGE_ROUTER}
    for router in routers:
        seen: set[str] = set()
        frontier = [router]
        while frontier:
            for pathway in by_uuid[frontier.pop()].pathways:
                nxt = pathway.destination_uuid
                if nxt == router:
                    raise InvalidWorkflow(
                        f"routers form a loop through stage {by_uuid[router].title!r}"
                    )
                if nxt in routers and nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)


def check_live_edit(old: Workflow, new: Workflow, task_counts: Mapping[str, int]) -> None:
    """Refuse edits that would strand tasks or change what a stage is."""
    new_by_uuid = {s.uuid: s for s in new.stages}
    for stage in old.stages:
        replacement = new_by_uuid.get(stage.uuid)
        if replacement is None:
            if stage.stage_type == StageType.COMPLETE:
                raise Conflict(f"the Complete stage {stage.title!r} cannot be deleted")
            held = task_counts.get(stage.uuid, 0)
            if held:
                raise Conflict(
                    f"stage {stage.title!r} holds {held} task(s) and cannot be deleted; "
                    "move them first"
                )
        elif replacement.stage_type != stage.stage_type:
            raise Conflict(
                f"stage {stage.title!r} cannot change type from {stage.stage_type} to "
                f"{replacement.stage_type}; add a new stage instead"
            )


def _bucket(task_uuid: str, router_uuid: str) -> int:
    digest = hashlib.sha256(f"{router_uuid}:{task_uuid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def route(workflow: Workflow, destination_uuid: str, task_uuid: str) -> str:
    """Follow routers from ``destination_uuid`` to the stage where the task comes to rest.

    The branch is a pure function of (task, router, percentages), so a task that passes a
    router again takes the same branch until the percentages change.
    """
    current = workflow.stage(destination_uuid)
    for _ in range(len(workflow.stages) + 1):
        if current is None:
            raise InvalidWorkflow(f"pathway leads to unknown stage {destination_uuid!r}")
        if current.stage_type != StageType.PERCENTAGE_ROUTER:
            return current.uuid
        bucket = _bucket(task_uuid, current.uuid)
        upper = 0
        chosen = current.pathways[-1]
        for pathway in current.pathways:
            upper += pathway.percentage or 0
            if bucket < upper:
                chosen = pathway
                break
        current = workflow.stage(chosen.destination_uuid)
    raise InvalidWorkflow("routers form a loop")


def initial_stage(workflow: Workflow) -> str:
    start = workflow.of_type(StageType.START)[0]
    nxt = start.pathway("next")
    assert nxt is not None  # validated: START's next leads to an ANNOTATE stage
    return nxt.destination_uuid
