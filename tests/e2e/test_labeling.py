"""The labeling workbench in a real browser: draw, classify, autosave, Submit & next,
review, against a real server (SQLite file), uploaded PNGs and a real receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from stagehook.config import Settings
from tests.support import ui
from tests.support.api import Api
from tests.support.browser import ADMIN_KEY, Server, Shot
from tests.support.labeling import (
    CAR,
    HEAD,
    OCCLUDED,
    SIGN,
    SUN,
    WEATHER,
    YES,
    box,
    ontology_structure,
    row,
)
from tests.support.receiver import Receiver
from tests.support.server import serve_app
from tests.support.workbench import (
    ANNOTATE,
    IMAGE_SIZE,
    REVIEW,
    LabProject,
    click_at,
    docs_shot,
    drag_box,
    lab_project,
    objects_of,
    open_task,
    wait_ready,
    wait_saved,
)

pytestmark = pytest.mark.e2e
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: each test makes its own project on it."""
    from stagehook.server import build_server_app

    folder = tmp_path_factory.mktemp("labeling")
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'stagehook.db'}",
        bootstrap_api_key=ADMIN_KEY,
        allowed_target_networks=["127.0.0.0/8"],
        retry_schedule=[0, 0.2, 0.4],
        retry_jitter=0.0,
    )
    app = build_server_app(settings, embedded_dispatcher=True)
    with serve_app(app) as base_url:
        yield Server(base_url, app.state.store)
    app.state.store.db.dispose()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def _events(receiver: Receiver, path: str) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in receiver.requests(path)]


def test_box_polygon_point_and_a_radio_by_keyboard_are_saved_normalised(
    page: Page, api: Api, shot: Shot
) -> None:
    project = lab_project(api, 1)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])

    page.keyboard.press("1")  # Car: a box
    drag_box(page, (0.15, 0.37), (0.45, 0.71))
    page.keyboard.press("2")  # Road Sign: a polygon, closed on its first vertex
    corners = [(0.8, 0.11), (0.87, 0.22), (0.8, 0.33), (0.73, 0.22)]
    for fx, fy in corners:
        click_at(page, fx, fy)
    click_at(page, *corners[0])
    page.keyboard.press("3")  # Pedestrian Head: a point
    click_at(page, 0.3, 0.8)
    page.keyboard.press("Escape")
    page.keyboard.press("Alt+2")  # first radio classification (Weather): option 2, Sun
    expect(page.get_by_role("radio", name="Sun")).to_be_checked()
    wait_saved(page)
    shot("drawn")
    docs_shot(page, "editor")

    row = api.get_label_row(project.project_hash, task["label_hash"])
    by_feature = {o["featureHash"]: o for o in objects_of(row)}
    assert set(by_feature) == {CAR, SIGN, HEAD}
    box = by_feature[CAR]["boundingBox"]
    for key, want in (("x", 0.15), ("y", 0.37), ("w", 0.3), ("h", 0.34)):
        assert box[key] == pytest.approx(want, abs=TOLERANCE), (key, box)
    ring = by_feature[SIGN]["polygons"][0][0]
    assert len(ring) == 8, ring
    for (fx, fy), x, y in zip(corners, ring[0::2], ring[1::2], strict=True):
        assert (x, y) == (pytest.approx(fx, abs=TOLERANCE), pytest.approx(fy, abs=TOLERANCE))
    point = by_feature[HEAD]["point"]["0"]
    assert (point["x"], point["y"]) == (
        pytest.approx(0.3, abs=TOLERANCE),
        pytest.approx(0.8, abs=TOLERANCE),
    )
    answers = row["labels"]["classification_answers"]
    weather = next(a for a in answers.values() if a["featureHash"] == WEATHER)
    assert weather["classifications"][0]["answers"][0]["featureHash"] == SUN


def test_submit_and_next_walks_the_queue_and_each_event_names_saved_rows(
    page: Page, api: Api, receiver: Receiver
) -> None:
    project = lab_project(api, 5, annotate_webhook=receiver.url("/walk"))
    ui.sign_in_with_key(page)
    page.goto(project.stage_url())
    page.get_by_role("button", name="Start labeling").click()
    workbench = page.locator("[data-workbench]")
    for i in range(5):
        expect(workbench).to_have_attribute("data-ready", re.compile(".+"))
        current = workbench.get_attribute("data-ready")
        page.keyboard.press("1")
        drag_box(page, (0.1 + 0.1 * i, 0.1), (0.3 + 0.1 * i, 0.4))
        page.get_by_role("button", name="Submit & next").click()
        if i < 4:
            expect(workbench).not_to_have_attribute("data-ready", current or "")
    expect(page.get_by_text("Done: no more tasks")).to_be_visible()
    expect(page.locator("[data-stage]")).to_be_hidden()  # nothing left to draw on
    # The details under the editor were the first task's: they make way for a link.
    expect(page.locator("[data-stale-details]")).to_be_visible()
    expect(page.locator("#labels_json")).to_be_hidden()

    receiver.wait_for(5, path="/walk")
    events = _events(receiver, "/walk")
    assert [e["event_type"] for e in events] == ["task_submitted_event"] * 5
    submitted = []
    for event in events:
        payload = event["payload"]
        assert isinstance(payload, dict)
        (label_hash,) = payload["label_hashes"]
        row = api.get_label_row(project.project_hash, label_hash)
        assert [o["featureHash"] for o in objects_of(row)] == [CAR]
        submitted.append(payload["data_hashes"][0])
    assert sorted(submitted) == sorted(t["data_hash"] for t in project.tasks)


def test_a_reload_mid_edit_loses_nothing(page: Page, api: Api) -> None:
    project = lab_project(api, 1)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    # The server is unreachable for saves: the edit lives only in this browser.
    page.route("**/label-rows/**", lambda route: route.abort())
    page.keyboard.press("1")
    drag_box(page, (0.1, 0.1), (0.4, 0.4))
    expect(page.locator("[data-save-status]")).to_have_text("Not saved")
    page.unroute("**/label-rows/**")
    page.reload()
    wait_ready(page, task["task_uuid"])
    expect(page.locator("[data-count]")).to_have_text("1")
    wait_saved(page)
    row = api.get_label_row(project.project_hash, task["label_hash"])
    assert [o["featureHash"] for o in objects_of(row)] == [CAR]


def test_a_second_tab_saving_over_a_newer_version_is_shown_a_conflict(
    context: BrowserContext, page: Page, api: Api
) -> None:
    project = lab_project(api, 1)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    other = context.new_page()
    open_task(page, project, task["task_uuid"])
    open_task(other, project, task["task_uuid"])

    page.keyboard.press("1")
    drag_box(page, (0.1, 0.1), (0.3, 0.3))
    wait_saved(page)
    other.bring_to_front()
    other.keyboard.press("1")
    drag_box(other, (0.5, 0.5), (0.8, 0.8))
    conflict = other.locator("[data-conflict]")
    expect(conflict).to_be_visible()
    expect(other.locator("[data-save-status]")).to_have_text("Conflict")
    row = api.get_label_row(project.project_hash, task["label_hash"])
    assert len(objects_of(row)) == 1  # the first tab's box, not overwritten
    conflict.get_by_role("button", name="Reload the saved version").click()
    expect(other.locator("[data-count]")).to_have_text("1")
    wait_saved(other)

    # Again, and this time the second tab keeps its version on purpose.
    page.bring_to_front()
    drag_box(page, (0.1, 0.6), (0.2, 0.7))
    wait_saved(page)
    other.bring_to_front()
    drag_box(other, (0.6, 0.1), (0.7, 0.2))
    expect(conflict).to_be_visible()
    conflict.get_by_role("button", name="Keep mine and save over it").click()
    wait_saved(other)
    kept = objects_of(api.get_label_row(project.project_hash, task["label_hash"]))
    assert sorted(round(o["boundingBox"]["x"], 1) for o in kept) == [0.1, 0.6]
    other.close()


def _submit_one(page: Page, project: LabProject, task_uuid: str) -> None:
    open_task(page, project, task_uuid)
    if page.locator("[data-count]").text_content() == "0":
        page.keyboard.press("1")
        drag_box(page, (0.25, 0.25), (0.5, 0.5))
    page.get_by_role("button", name="Submit & next").click()
    expect(page.get_by_text("Done: no more tasks")).to_be_visible()


def test_review_rejects_with_a_comment_the_annotator_sees_then_approves(
    page: Page, api: Api, receiver: Receiver, shot: Shot
) -> None:
    project = lab_project(api, 1, complete_webhook=receiver.url("/done"))
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    _submit_one(page, project, task["task_uuid"])

    open_task(page, project, task["task_uuid"])  # now at Review, read-only
    expect(page.locator(".a9s-annotation")).to_have_count(1)
    expect(page.get_by_role("button", name="Submit & next")).to_have_count(0)
    page.get_by_label("Comment for the annotator").fill("The box misses the car's left side")
    shot("review")
    docs_shot(page, "review")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Done: no more tasks")).to_be_visible()

    (back_again,) = api.tasks(project.project_hash, stage_uuid=ANNOTATE)
    assert back_again["status"] == "REOPENED"
    open_task(page, project, task["task_uuid"])
    expect(page.locator("[data-review-comment]")).to_contain_text(
        "The box misses the car's left side"
    )
    _submit_one(page, project, task["task_uuid"])
    open_task(page, project, task["task_uuid"])
    page.get_by_role("button", name="Approve & next").click()
    expect(page.get_by_text("Done: no more tasks")).to_be_visible()

    (done,) = receiver.wait_for(1, path="/done")
    event = json.loads(done.body)
    assert event["event_type"] == "task_completed_event"
    assert event["payload"]["label_hash"] == task["label_hash"]
    assert api.tasks(project.project_hash, stage_uuid=REVIEW) == []

    # The export carries the box drawn in the browser, in both formats.
    coco = api.raw("GET", f"/projects/{project.project_hash}/export?format=coco").json()
    (annotation,) = coco["annotations"]
    car = next(c for c in coco["categories"] if c["name"] == "Car")
    assert annotation["category_id"] == car["id"]
    width, height = IMAGE_SIZE
    want = [0.25 * width, 0.25 * height, 0.25 * width, 0.25 * height]
    assert annotation["bbox"] == pytest.approx(want, abs=TOLERANCE * width)
    encord = api.raw("GET", f"/projects/{project.project_hash}/export?format=encord").json()
    (row,) = encord
    assert row["label_hash"] == task["label_hash"]
    (box,) = [o for u in row["data_units"].values() for o in u["labels"]["objects"]]
    assert box["featureHash"] == CAR
    assert box["boundingBox"]["x"] == pytest.approx(0.25, abs=TOLERANCE)


def test_submit_without_a_required_classification_is_refused_with_the_reason(
    page: Page, api: Api
) -> None:
    project = lab_project(api, 1, weather_required=True)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    page.keyboard.press("1")
    drag_box(page, (0.1, 0.1), (0.3, 0.3))
    page.get_by_role("button", name="Submit & next").click()
    expect(page.locator("[data-message]")).to_contain_text("Weather")
    (still,) = api.tasks(project.project_hash, stage_uuid=ANNOTATE)
    assert still["status"] != "COMPLETED" and still["task_uuid"] == task["task_uuid"]
    page.keyboard.press("Alt+1")  # Rain
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text("Done: no more tasks")).to_be_visible()
    (submitted,) = api.tasks(project.project_hash, stage_uuid=REVIEW)
    assert submitted["task_uuid"] == task["task_uuid"]


def test_undo_redo_delete_attributes_zoom_and_the_help_overlay(
    page: Page, api: Api, shot: Shot
) -> None:
    project = lab_project(api, 1)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    count = page.locator("[data-count]")

    page.keyboard.press("1")
    drag_box(page, (0.1, 0.1), (0.3, 0.3))
    expect(count).to_have_text("1")
    page.wait_for_timeout(400)  # one undo step per pause, as a person works
    page.keyboard.press("Control+z")
    expect(count).to_have_text("0")
    page.keyboard.press("Control+Shift+z")
    expect(count).to_have_text("1")
    page.locator("[data-objects] button").first.click()
    page.keyboard.press("Delete")
    expect(count).to_have_text("0")

    # Zoomed in, a drawn box still lands where it was drawn on the image.
    stage = page.locator("[data-stage]").bounding_box()
    assert stage is not None
    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.wheel(0, -400)
    page.keyboard.press("1")
    drag_box(page, (0.45, 0.45), (0.55, 0.6))
    page.get_by_role("radio", name="Yes").check()  # the box's Occluded attribute
    page.keyboard.press("?")
    help_overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_overlay).to_be_visible()
    expect(help_overlay).to_contain_text("undo / redo")
    shot("help")
    docs_shot(page, "shortcuts")
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()
    wait_saved(page)

    row = api.get_label_row(project.project_hash, task["label_hash"])
    (box,) = objects_of(row)
    expected = {"x": 0.45, "y": 0.45, "w": 0.1, "h": 0.15}
    assert box["boundingBox"] == pytest.approx(expected, abs=TOLERANCE / 2)
    (answer,) = row["labels"]["object_answers"][box["objectHash"]]["classifications"]
    assert answer["featureHash"] == OCCLUDED and answer["answers"][0]["featureHash"] == YES


def test_answers_the_panel_does_not_edit_survive_an_edit_in_the_browser(
    page: Page, api: Api
) -> None:
    """A numeric attribute (no field for it in the side panel) written through the API
    is still there after an annotator adds a box in the browser."""
    structure = ontology_structure()
    speed = {"name": "Speed", "type": "numeric", "featureNodeHash": "Sp33dN0m"}
    structure["objects"][0]["attributes"].append(speed)
    project = lab_project(api, 1, structure=structure)
    task = project.tasks[0]
    answers = [
        {"featureHash": OCCLUDED, "answers": [{"featureHash": YES}]},
        {"featureHash": "Sp33dN0m", "answers": 42},
    ]
    labels = row(
        task["data_hash"],
        [box()],
        object_answers={"q7Rk2mXa": {"objectHash": "q7Rk2mXa", "classifications": answers}},
    )
    before = api.get_label_row(project.project_hash, task["label_hash"])
    api.put_label_row(project.project_hash, task["label_hash"], labels, before["version"])

    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    expect(page.locator("[data-count]")).to_have_text("1")
    page.keyboard.press("1")
    drag_box(page, (0.6, 0.6), (0.8, 0.8))
    wait_saved(page)

    saved = api.get_label_row(project.project_hash, task["label_hash"])
    assert len(objects_of(saved)) == 2
    kept = saved["labels"]["object_answers"]["q7Rk2mXa"]["classifications"]
    by_feature = {a["featureHash"]: a["answers"] for a in kept}
    assert by_feature["Sp33dN0m"] == 42
    assert by_feature[OCCLUDED][0]["featureHash"] == YES
