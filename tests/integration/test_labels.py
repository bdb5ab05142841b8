"""Label rows on a project with an ontology: checked, stamped, required on submit, and
fetchable by a real receiver the moment its task_submitted_event arrives."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from stagehook.client import ApiError, Client
from stagehook.events import TaskSubmittedEvent
from stagehook.receiver import webhook_app
from tests.support.api import ADMIN_KEY, Api
from tests.support.labeling import (
    CAR,
    HEAD,
    NO,
    OCCLUDED,
    RAIN,
    SIGN,
    SUN,
    box,
    labeling_project,
    polygon,
    row,
    weather,
)
from tests.support.server import serve_app
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE

Json = dict[str, Any]


def head() -> Json:
    return {"objectHash": "p1", "featureHash": HEAD, "point": {"0": {"x": 0.5, "y": 0.5}}}


def two_answers() -> Json:
    instance, answers = weather()
    answers["Jd5tY1oQ"]["classifications"][0]["answers"] = [
        {"featureHash": RAIN},
        {"featureHash": SUN},
    ]
    return {"classifications": [instance], "classification_answers": answers}


#: The keys Encord's SDK reads directly from a label row.
SDK_READS = (
    "label_hash",
    "branch_name",
    "dataset_hash",
    "dataset_title",
    "data_title",
    "data_hash",
    "data_type",
    "label_status",
    "created_at",
    "last_edited_at",
    "data_units",
    "object_answers",
    "classification_answers",
    "object_actions",
)

BAD = [
    (
        "unknown feature",
        [box(feature="nope")],
        {},
        ".objects[0].featureHash",
        "'nope' is not an object",
    ),
    (
        "box on a polygon object",
        [box(feature=SIGN)],
        {},
        ".objects[0].boundingBox",
        "is a polygon",
    ),
    ("outside 0-1", [box(x=1.2)], {}, ".objects[0].boundingBox.x", "outside 0-1"),
    (
        "polygon of 2 points",
        [polygon([(0.1, 0.1), (0.5, 0.5)])],
        {},
        ".objects[0].polygon",
        "3 vertices, not 2",
    ),
    (
        "radio with two answers",
        [],
        two_answers(),
        ".classifications[0].answers",
        "one answer, not 2",
    ),
]


@pytest.mark.parametrize(
    ("case", "objects", "extra", "path", "needle"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_labels_are_422_naming_the_path(
    api: Api, case: str, objects: list[Json], extra: Json, path: str, needle: str
) -> None:
    project_hash, tasks, units = labeling_project(api)
    labels = row(
        units[0]["data_hash"],
        objects,
        extra.get("classifications"),
        classification_answers=extra.get("classification_answers", {}),
    )
    with pytest.raises(ApiError) as err:
        api.put_label_row(project_hash, tasks[0]["label_hash"], labels, 0)
    assert err.value.status == 422 and err.value.code == "invalid_labels"
    assert path in err.value.message and needle in err.value.message
    assert api.get_label_row(project_hash, tasks[0]["label_hash"])["version"] == 0


def test_saved_row_is_a_full_encord_row_with_stamps(api: Api) -> None:
    project_hash, tasks, units = labeling_project(api)
    data_hash, label_hash = units[0]["data_hash"], tasks[0]["label_hash"]
    empty = api.get_label_row(project_hash, label_hash)["labels"]
    assert empty["data_units"][data_hash]["labels"] == {"objects": [], "classifications": []}
    assert empty["label_status"] == "NOT_LABELLED"

    instance, answers = weather()
    car = box()
    labels = row(
        data_hash,
        [
            car,
            polygon([(0.1, 0.1), (0.5, 0.1), (0.3, 0.4)]),
            {"objectHash": "p1", "featureHash": HEAD, "point": {"0": {"x": 0.5, "y": 0.5}}},
        ],
        [instance],
        classification_answers=answers,
        object_answers={
            car["objectHash"]: {
                "classifications": [{"featureHash": OCCLUDED, "answers": [{"featureHash": NO}]}]
            }
        },
    )
    saved = api.put_label_row(project_hash, label_hash, labels, 0)
    full = saved["labels"]
    unit = full["data_units"][data_hash]
    assert (unit["width"], unit["height"], unit["data_type"]) == (200, 100, "image/png")
    assert unit["data_link"] == f"/api/v1/data-units/{data_hash}/content"
    first, poly, point = unit["labels"]["objects"]
    assert (first["name"], first["value"], first["color"], first["shape"]) == (
        "Car",
        "car",
        "#D33115",
        "bounding_box",
    )
    assert first["createdBy"] == "admin" and first["createdAt"].endswith(" UTC")
    assert first["manualAnnotation"] is True and "lastEditedBy" not in first
    assert poly["polygons"] == [[[0.1, 0.1, 0.5, 0.1, 0.3, 0.4]]]
    assert point["point"] == {"0": {"x": 0.5, "y": 0.5}} and point["name"] == "Pedestrian Head"
    assert full["object_answers"]["p1"] == {"objectHash": "p1", "classifications": []}
    occluded = full["object_answers"][car["objectHash"]]["classifications"][0]
    assert occluded["answers"] == [{"featureHash": NO, "name": "No", "value": "no"}]
    assert full["classification_answers"]["Jd5tY1oQ"]["spaces"] == {}
    for key in (
        "label_hash",
        "branch_name",
        "dataset_hash",
        "dataset_title",
        "data_title",
        "data_type",
        "label_status",
        "created_at",
        "last_edited_at",
        "object_actions",
    ):
        assert key in full

    full["data_units"][data_hash]["labels"]["objects"][0]["boundingBox"]["x"] = 0.2
    again = api.put_label_row(project_hash, label_hash, full, saved["version"])
    moved, same_poly, _ = again["labels"]["data_units"][data_hash]["labels"]["objects"]
    assert moved["lastEditedBy"] == "admin" and moved["createdAt"] == first["createdAt"]
    assert "lastEditedBy" not in same_poly
    with pytest.raises(ApiError) as err:
        api.put_label_row(project_hash, label_hash, full, saved["version"])
    assert err.value.status == 409


def test_submit_refused_until_required_classification_answered(api: Api) -> None:
    project_hash, tasks, units = labeling_project(api, weather_required=True)
    task = tasks[0]
    submit = [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}]
    with pytest.raises(ApiError) as err:
        api.act(project_hash, ANNOTATE, submit)
    assert err.value.status == 422 and err.value.code == "labels_incomplete"
    assert "'Weather'" in err.value.message
    assert api.tasks(project_hash)[0]["stage_uuid"] == ANNOTATE
    instance, answers = weather()
    labels = row(units[0]["data_hash"], [], [instance], classification_answers=answers)
    api.put_label_row(project_hash, task["label_hash"], labels, 0)
    api.act(project_hash, ANNOTATE, submit)
    assert api.tasks(project_hash)[0]["stage_uuid"] != ANNOTATE


def test_receiver_fetches_each_label_row_the_moment_the_event_arrives(
    api: Api, server: tuple[str, Any]
) -> None:
    """The receiver SDK's handler fetches the rows while the delivery is still open."""
    fetched: list[Json] = []
    receiver: dict[str, Any] = {}

    def on_event(event: Any) -> None:
        assert isinstance(event, TaskSubmittedEvent)
        with Client(server[0], ADMIN_KEY) as client:
            fetched.extend(
                client.get_label_row(event.payload.project_hash, label_hash)
                for label_hash in event.payload.label_hashes
            )

    async def lazy(scope: Any, receive: Any, send: Any) -> None:
        await receiver["app"](scope, receive, send)

    with serve_app(Starlette(routes=[Mount("/", app=lazy)])) as url:
        project_hash, tasks, units = labeling_project(api, 3, hook=url + "/hook")
        secret = api.request("GET", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook")
        receiver["app"] = webhook_app(secret["signing_secret"], on_event)
        for i, (task, unit) in enumerate(zip(tasks, units, strict=True)):
            labels = row(unit["data_hash"], [box(object_hash=f"o{i}", x=0.1 * i)])
            api.put_label_row(project_hash, task["label_hash"], labels, 0)
        api.act(
            project_hash,
            ANNOTATE,
            [{"task_uuid": t["task_uuid"], "action": "SUBMIT"} for t in tasks[:2]],
        )
        api.act(project_hash, ANNOTATE, [{"task_uuid": tasks[2]["task_uuid"], "action": "SUBMIT"}])
        wait_until(lambda: len(fetched) == 3, timeout=15, what="three label rows fetched")
    # The two events are delivered concurrently, so they may arrive in either order.
    by_hash = {r["label_hash"]: r for r in fetched}
    assert sorted(by_hash) == sorted(t["label_hash"] for t in tasks)
    for i, task in enumerate(tasks):
        fetched_row = by_hash[task["label_hash"]]
        objects = fetched_row["labels"]["data_units"][fetched_row["data_hash"]]["labels"]["objects"]
        assert [(o["featureHash"], o["boundingBox"]["x"]) for o in objects] == [
            (CAR, pytest.approx(0.1 * i))
        ]
