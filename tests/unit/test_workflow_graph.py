"""Workflow graph rules: which graphs are refused and why, live edits, and routing."""

from __future__ import annotations

import copy
import random
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from stagehook.errors import Conflict, InvalidWorkflow
from stagehook.workflow import graph
from stagehook.workflow.stages import Workflow
from tests.support.workflows import (
    ANNOTATE,
    ARCHIVE,
    COMPLETE,
    REVIEW,
    ROUTER,
    START,
    basic_workflow,
    pathway,
    router_workflow,
    stage,
    submit_to_complete_workflow,
)

Json = dict[str, Any]
OTHER = "00000000-0000-4000-8000-0000000000ff"
SECOND_ROUTER = "00000000-0000-4000-8000-0000000000fe"


def parse(document: Json) -> Workflow:
    return Workflow.model_validate(document)


def edited(document: Json, edit: Callable[[list[Json]], None]) -> Json:
    """A deep copy of ``document`` with ``edit`` applied to its stage list."""
    out = copy.deepcopy(document)
    edit(out["stages"])
    return out


def by_uuid(stages: list[Json], stage_uuid: str) -> Json:
    return next(s for s in stages if s["uuid"] == stage_uuid)


def set_pathways(stage_uuid: str, *pathways: Json) -> Callable[[list[Json]], None]:
    def edit(stages: list[Json]) -> None:
        by_uuid(stages, stage_uuid)["pathways"] = list(pathways)

    return edit


def remove(stage_uuid: str) -> Callable[[list[Json]], None]:
    def edit(stages: list[Json]) -> None:
        stages.remove(by_uuid(stages, stage_uuid))

    return edit


def add(*new: Json) -> Callable[[list[Json]], None]:
    def edit(stages: list[Json]) -> None:
        stages.extend(new)

    return edit


def both(*edits: Callable[[list[Json]], None]) -> Callable[[list[Json]], None]:
    def edit(stages: list[Json]) -> None:
        for one in edits:
            one(stages)

    return edit


def with_webhook(stage_uuid: str) -> Callable[[list[Json]], None]:
    def edit(stages: list[Json]) -> None:
        by_uuid(stages, stage_uuid)["webhook"] = {"url": "https://hooks.example/x"}

    return edit


def routed(*branches: Json) -> Json:
    """The router workflow with the router's branches replaced."""
    return edited(router_workflow(), set_pathways(ROUTER, *branches))


BASIC = basic_workflow()

INVALID: list[tuple[str, Json, list[str]]] = [
    (
        "no START",
        edited(BASIC, remove(START)),
        ["exactly one START stage", "found 0"],
    ),
    (
        "two STARTs",
        edited(BASIC, add(stage(OTHER, "Start 2", "START", [pathway("next", ANNOTATE)]))),
        ["exactly one START stage", "found 2"],
    ),
    (
        "no COMPLETE",
        edited(
            BASIC,
            both(
                remove(COMPLETE),
                set_pathways(REVIEW, pathway("approve", ANNOTATE), pathway("reject", ANNOTATE)),
            ),
        ),
        ["exactly one COMPLETE stage", "found 0"],
    ),
    (
        "two COMPLETEs",
        edited(BASIC, add(stage(OTHER, "Done too", "COMPLETE"))),
        ["exactly one COMPLETE stage", "found 2"],
    ),
    (
        "START leads to Review",
        edited(BASIC, set_pathways(START, pathway("next", REVIEW))),
        ["START", "'next'", "ANNOTATE"],
    ),
    (
        "START has no next",
        edited(BASIC, set_pathways(START)),
        ["'Start'", "needs pathway(s): next"],
    ),
    (
        "unreachable stage",
        edited(BASIC, add(stage(OTHER, "Orphan", "ANNOTATE", [pathway("submit", REVIEW)]))),
        ["not reachable from START", "Orphan"],
    ),
    (
        "unknown destination",
        edited(BASIC, set_pathways(ANNOTATE, pathway("submit", "nowhere"))),
        ["'Annotate'", "'submit'", "unknown stage", "'nowhere'"],
    ),
    (
        "Annotate without submit",
        edited(BASIC, set_pathways(ANNOTATE)),
        ["'Annotate'", "needs pathway(s): submit"],
    ),
    (
        "Review without approve",
        edited(BASIC, set_pathways(REVIEW, pathway("reject", ANNOTATE))),
        ["'Review'", "needs pathway(s): approve"],
    ),
    (
        "Review without reject",
        edited(BASIC, set_pathways(REVIEW, pathway("approve", COMPLETE))),
        ["'Review'", "needs pathway(s): reject"],
    ),
    (
        "Review with a stray pathway",
        edited(
            BASIC,
            set_pathways(
                REVIEW,
                pathway("approve", COMPLETE),
                pathway("reject", ANNOTATE),
                pathway("maybe", COMPLETE),
            ),
        ),
        ["'Review'", "unexpected pathway(s) maybe", "approve, reject"],
    ),
    (
        "Complete with a pathway",
        edited(BASIC, set_pathways(COMPLETE, pathway("again", ANNOTATE))),
        ["'Complete'", "unexpected pathway(s) again", "allowed: none"],
    ),
    (
        "two pathways with one name",
        edited(
            BASIC,
            set_pathways(ANNOTATE, pathway("submit", REVIEW), pathway("submit", COMPLETE)),
        ),
        ["'Annotate'", "two pathways with the same name"],
    ),
    (
        "uuid used twice",
        edited(BASIC, add(stage(REVIEW, "Review again", "ARCHIVE"))),
        [REVIEW, "used twice"],
    ),
    (
        "pathway back to START",
        edited(BASIC, set_pathways(REVIEW, pathway("approve", COMPLETE), pathway("reject", START))),
        ["'Review'", "'reject'", "back to START"],
    ),
    (
        "percentage outside a router",
        edited(BASIC, set_pathways(ANNOTATE, pathway("submit", REVIEW, 100))),
        ["'Annotate'", "only PERCENTAGE_ROUTER pathways carry a percentage"],
    ),
    (
        "router sums to 90",
        routed(pathway("review", REVIEW, 40), pathway("complete", COMPLETE, 50)),
        ["'Sample for review'", "sum to 100, not 90"],
    ),
    (
        "router sums to 110",
        routed(pathway("review", REVIEW, 60), pathway("complete", COMPLETE, 50)),
        ["'Sample for review'", "sum to 100, not 110"],
    ),
    (
        "router with one branch",
        edited(
            router_workflow(),
            both(
                set_pathways(ROUTER, pathway("review", REVIEW, 100)),
                set_pathways(REVIEW, pathway("approve", COMPLETE), pathway("reject", ANNOTATE)),
            ),
        ),
        ["'Sample for review'", "at least two pathways"],
    ),
    (
        "router branch without a percentage",
        routed(pathway("review", REVIEW, 100), pathway("complete", COMPLETE)),
        ["'Sample for review'", "every router pathway needs an integer percentage"],
    ),
    (
        "router loops to itself",
        routed(
            pathway("again", ROUTER, 50), pathway("review", REVIEW, 25), pathway("c", COMPLETE, 25)
        ),
        ["routers form a loop", "'Sample for review'"],
    ),
    (
        "two routers loop",
        edited(
            router_workflow(),
            both(
                set_pathways(
                    ROUTER, pathway("second", SECOND_ROUTER, 50), pathway("r", REVIEW, 50)
                ),
                add(
                    stage(
                        SECOND_ROUTER,
                        "Second router",
                        "PERCENTAGE_ROUTER",
                        [pathway("back", ROUTER, 50), pathway("done", COMPLETE, 50)],
                    )
                ),
            ),
        ),
        ["routers form a loop"],
    ),
]


@pytest.mark.parametrize(
    ("document", "fragments"),
    [pytest.param(doc, fragments, id=name) for name, doc, fragments in INVALID],
)
def test_invalid_workflow_is_refused_with_a_message_saying_why(
    document: Json, fragments: list[str]
) -> None:
    workflow = parse(document)
    with pytest.raises(InvalidWorkflow) as caught:
        graph.validate(workflow)
    assert caught.value.status == 422
    for fragment in fragments:
        assert fragment in caught.value.message


@pytest.mark.parametrize(
    "stage_uuid",
    [
        pytest.param(REVIEW, id="REVIEW"),
        pytest.param(START, id="START"),
        pytest.param(ARCHIVE, id="ARCHIVE"),
        pytest.param(ROUTER, id="PERCENTAGE_ROUTER"),
    ],
)
def test_webhook_on_a_stage_that_cannot_fire_is_refused(stage_uuid: str) -> None:
    document = edited(router_workflow(archive=True), with_webhook(stage_uuid))
    with pytest.raises(InvalidWorkflow) as caught:
        graph.validate(parse(document))
    assert caught.value.message == "webhooks can only be added to Annotate and Complete stages"
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [("percentage", 50.5), ("percentage", "half"), ("percentage", -10), ("percentage", 101)],
)
def test_router_percentage_must_be_an_integer_from_0_to_100(field: str, value: object) -> None:
    document = routed(pathway("review", REVIEW, 50), pathway("complete", COMPLETE, 50))
    by_uuid(document["stages"], ROUTER)["pathways"][0][field] = value
    with pytest.raises(ValidationError) as caught:
        parse(document)
    assert "percentage" in str(caught.value)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(basic_workflow(), id="basic"),
        pytest.param(basic_workflow("https://a.example/s", "https://a.example/c"), id="hooks"),
        pytest.param(router_workflow(), id="router"),
        pytest.param(router_workflow((0, 100)), id="router-0-100"),
        pytest.param(router_workflow(archive=True, complete_webhook="https://c"), id="archive"),
        pytest.param(submit_to_complete_workflow("https://a", "https://c"), id="straight"),
        pytest.param(
            edited(basic_workflow(), lambda stages: stages.reverse()), id="any-stage-order"
        ),
    ],
)
def test_valid_workflows_pass(document: Json) -> None:
    graph.validate(parse(document))


def test_unknown_stage_type_is_refused_by_the_schema() -> None:
    document = edited(BASIC, lambda stages: by_uuid(stages, REVIEW).update(stage_type="QA"))
    with pytest.raises(ValidationError, match="stage_type"):
        parse(document)


# --- live edits ---------------------------------------------------------------------------


def test_deleting_a_stage_that_holds_tasks_is_a_conflict() -> None:
    old = parse(basic_workflow())
    new = parse(
        edited(
            basic_workflow(),
            both(remove(REVIEW), set_pathways(ANNOTATE, pathway("submit", COMPLETE))),
        )
    )
    graph.validate(new)
    with pytest.raises(Conflict) as caught:
        graph.check_live_edit(old, new, {REVIEW: 3, ANNOTATE: 1})
    assert caught.value.status == 409
    assert "'Review'" in caught.value.message
    assert "holds 3 task(s)" in caught.value.message


def test_deleting_an_empty_stage_is_allowed() -> None:
    old = parse(router_workflow(archive=True))
    new = parse(router_workflow())
    graph.check_live_edit(old, new, {ANNOTATE: 5, REVIEW: 2, COMPLETE: 7})


def test_deleting_an_archive_that_holds_tasks_is_a_conflict() -> None:
    old = parse(router_workflow(archive=True))
    new = parse(router_workflow())
    with pytest.raises(Conflict, match="'Archive' holds 1 task"):
        graph.check_live_edit(old, new, {ARCHIVE: 1})


def test_deleting_the_complete_stage_is_a_conflict_even_when_empty() -> None:
    old = parse(basic_workflow())
    replaced = edited(
        basic_workflow(),
        both(
            lambda stages: by_uuid(stages, COMPLETE).update(uuid=OTHER),
            set_pathways(REVIEW, pathway("approve", OTHER), pathway("reject", ANNOTATE)),
        ),
    )
    new = parse(replaced)
    graph.validate(new)
    with pytest.raises(Conflict) as caught:
        graph.check_live_edit(old, new, {})
    assert "Complete stage 'Complete' cannot be deleted" in caught.value.message


def test_changing_a_stage_type_is_a_conflict() -> None:
    old = parse(basic_workflow())
    new = parse(
        edited(
            basic_workflow(),
            lambda stages: by_uuid(stages, REVIEW).update(
                stage_type="ANNOTATE", pathways=[pathway("submit", COMPLETE)]
            ),
        )
    )
    graph.validate(new)
    with pytest.raises(Conflict) as caught:
        graph.check_live_edit(old, new, {})
    assert "'Review'" in caught.value.message
    assert "from REVIEW to ANNOTATE" in caught.value.message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(
            basic_workflow(),
            edited(basic_workflow(), lambda s: by_uuid(s, REVIEW).update(title="QA")),
            id="rename",
        ),
        pytest.param(
            basic_workflow(),
            edited(
                basic_workflow(),
                both(
                    set_pathways(REVIEW, pathway("approve", COMPLETE), pathway("reject", OTHER)),
                    add(stage(OTHER, "Trash", "ARCHIVE")),
                ),
            ),
            id="add-stage",
        ),
        pytest.param(router_workflow((50, 50)), router_workflow((10, 90)), id="percentages"),
        pytest.param(basic_workflow(), basic_workflow("https://a", "https://c"), id="add-webhooks"),
        pytest.param(
            router_workflow(archive=True),
            edited(
                router_workflow(archive=True),
                set_pathways(REVIEW, pathway("approve", COMPLETE), pathway("reject", ARCHIVE)),
            ),
            id="rewire",
        ),
    ],
)
def test_harmless_live_edits_are_allowed(old: Json, new: Json) -> None:
    graph.validate(parse(new))
    graph.check_live_edit(parse(old), parse(new), {ANNOTATE: 4, REVIEW: 4, COMPLETE: 4})


# --- routing ------------------------------------------------------------------------------


def synthetic_task_uuids(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def test_non_router_destination_is_where_the_task_rests() -> None:
    workflow = parse(router_workflow())
    for destination in (ANNOTATE, REVIEW, COMPLETE):
        assert graph.route(workflow, destination, "any-task") == destination


def test_routing_is_deterministic_and_sticky() -> None:
    tasks = synthetic_task_uuids(200)
    first = parse(router_workflow((50, 50)))
    again = parse(router_workflow((50, 50)))  # a fresh load, e.g. after a restart
    for task in tasks:
        branch = graph.route(first, ROUTER, task)
        assert branch in (REVIEW, COMPLETE)
        assert all(graph.route(first, ROUTER, task) == branch for _ in range(5))
        assert graph.route(again, ROUTER, task) == branch


@pytest.mark.parametrize(
    "percentages", [(50, 50), (30, 70), (10, 90), (95, 5), (50, 25, 25), (20, 0, 80)]
)
def test_routing_distribution_follows_the_percentages(percentages: tuple[int, ...]) -> None:
    workflow = parse(router_workflow(percentages, archive=len(percentages) == 3))
    tasks = synthetic_task_uuids(10_000)
    counts = Counter(graph.route(workflow, ROUTER, task) for task in tasks)
    destinations = [REVIEW, COMPLETE, ARCHIVE][: len(percentages)]
    for destination, share in zip(destinations, percentages, strict=True):
        observed = counts[destination] / len(tasks) * 100
        assert abs(observed - share) < 2.5, (destination, observed, share)
        if share == 0:
            assert counts[destination] == 0


@pytest.mark.parametrize(("percentages", "only"), [((100, 0), REVIEW), ((0, 100), COMPLETE)])
def test_a_zero_share_branch_never_receives_tasks(percentages: tuple[int, int], only: str) -> None:
    workflow = parse(router_workflow(percentages))
    assert {graph.route(workflow, ROUTER, t) for t in synthetic_task_uuids(1000)} == {only}


def test_changing_percentages_can_change_the_branch() -> None:
    tasks = synthetic_task_uuids(1000)
    half = parse(router_workflow((50, 50)))
    few = parse(router_workflow((10, 90)))
    reviewed_at_half = {t for t in tasks if graph.route(half, ROUTER, t) == REVIEW}
    reviewed_at_few = {t for t in tasks if graph.route(few, ROUTER, t) == REVIEW}
    assert reviewed_at_half - reviewed_at_few  # some tasks now skip review ...
    assert reviewed_at_few <= reviewed_at_half  # ... and none newly enters it


def test_routers_in_a_row_are_followed_to_a_resting_stage() -> None:
    document = edited(
        router_workflow(),
        both(
            set_pathways(ROUTER, pathway("more", SECOND_ROUTER, 100), pathway("c", COMPLETE, 0)),
            add(
                stage(
                    SECOND_ROUTER,
                    "Second router",
                    "PERCENTAGE_ROUTER",
                    [pathway("r", REVIEW, 0), pathway("c", COMPLETE, 100)],
                )
            ),
        ),
    )
    workflow = parse(document)
    graph.validate(workflow)
    assert {graph.route(workflow, ROUTER, t) for t in synthetic_task_uuids(100)} == {COMPLETE}


def test_initial_stage_is_starts_next() -> None:
    assert graph.initial_stage(parse(router_workflow())) == ANNOTATE
