"""Editing shapes in the workbench by dragging them, and panning the image: what is saved
follows the pointer, in normalised image coordinates."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.labeling import CAR, HEAD, SIGN, box, row
from tests.support.workbench import (
    LabProject,
    click_at,
    drag_box,
    image_point,
    lab_project,
    objects_of,
    open_task,
    wait_saved,
)

pytestmark = pytest.mark.e2e
TOLERANCE = 0.01
SQUARE = [(0.6, 0.1), (0.8, 0.1), (0.8, 0.3), (0.6, 0.3)]


def _project_with_shapes(api: Api) -> tuple[LabProject, str]:
    """One task whose row already holds a box, a square polygon and a point."""
    project = lab_project(api, 1)
    task = project.tasks[0]
    shapes = [
        box(CAR, "b0xB0x01", x=0.1, y=0.1, w=0.2, h=0.2),
        {
            "objectHash": "p0lyG0n1",
            "featureHash": SIGN,
            "polygons": [[[c for xy in SQUARE for c in xy]]],
        },
        {"objectHash": "p01nt001", "featureHash": HEAD, "point": {"0": {"x": 0.3, "y": 0.7}}},
    ]
    before = api.get_label_row(project.project_hash, task["label_hash"])
    labels = row(task["data_hash"], shapes)
    api.put_label_row(project.project_hash, task["label_hash"], labels, before["version"])
    return project, task["task_uuid"]


def _saved(api: Api, project: LabProject, task_uuid: str) -> dict[str, dict[str, Any]]:
    (task,) = [t for t in project.tasks if t["task_uuid"] == task_uuid]
    saved = api.get_label_row(project.project_hash, task["label_hash"])
    return {o["objectHash"]: o for o in objects_of(saved)}


def _near(got: tuple[float, float], want: tuple[float, float]) -> bool:
    return all(abs(g - w) <= TOLERANCE for g, w in zip(got, want, strict=True))


def test_a_box_is_moved_by_its_body_and_resized_by_its_corner(page: Page, api: Api) -> None:
    project, task_uuid = _project_with_shapes(api)
    ui.sign_in_with_key(page)
    open_task(page, project, task_uuid)
    click_at(page, 0.2, 0.2)  # select the box (no tool: select and move)
    expect(page.locator("[data-objects] [aria-pressed=true]")).to_contain_text("Car")
    drag_box(page, (0.2, 0.2), (0.3, 0.25))  # move: now x 0.2, y 0.15
    drag_box(page, (0.4, 0.35), (0.5, 0.5))  # bottom-right corner: now w 0.3, h 0.35
    wait_saved(page)
    got = _saved(api, project, task_uuid)["b0xB0x01"]["boundingBox"]
    assert got == pytest.approx({"x": 0.2, "y": 0.15, "w": 0.3, "h": 0.35}, abs=TOLERANCE)


def test_a_polygon_vertex_and_a_point_are_dragged_to_new_places(page: Page, api: Api) -> None:
    project, task_uuid = _project_with_shapes(api)
    ui.sign_in_with_key(page)
    open_task(page, project, task_uuid)
    click_at(page, 0.7, 0.2)  # select the polygon
    expect(page.locator("[data-objects] [aria-pressed=true]")).to_contain_text("Road Sign")
    drag_box(page, SQUARE[2], (0.9, 0.4))
    drag_box(page, (0.3, 0.7), (0.5, 0.8))  # the point, picked and dragged in select mode
    wait_saved(page)

    saved = _saved(api, project, task_uuid)
    ring = saved["p0lyG0n1"]["polygons"][0][0]
    vertices = list(zip(ring[0::2], ring[1::2], strict=True))
    want = [*SQUARE[:2], (0.9, 0.4), SQUARE[3]]
    assert len(vertices) == len(want), vertices
    assert all(_near(v, w) for v, w in zip(vertices, want, strict=True)), vertices
    point = saved["p01nt001"]["point"]["0"]
    assert _near((point["x"], point["y"]), (0.5, 0.8)), point


def test_dragging_the_image_pans_it_and_drawing_after_still_lands_in_place(
    page: Page, api: Api
) -> None:
    project = lab_project(api, 1)
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    before = image_point(page, 0, 0)
    page.mouse.move(*image_point(page, 0.5, 0.5))
    page.mouse.down()
    page.mouse.move(*image_point(page, 0.6, 0.6), steps=8)  # with no tool, a drag pans
    page.mouse.up()
    after = image_point(page, 0, 0)
    assert after[0] - before[0] > 20 and after[1] - before[1] > 20, (before, after)

    page.keyboard.press("1")
    drag_box(page, (0.2, 0.3), (0.5, 0.6))
    wait_saved(page)
    row_now = api.get_label_row(project.project_hash, task["label_hash"])
    (car,) = objects_of(row_now)
    want = {"x": 0.2, "y": 0.3, "w": 0.3, "h": 0.3}
    assert car["boundingBox"] == pytest.approx(want, abs=TOLERANCE)
