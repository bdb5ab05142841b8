"""Labeling projects and editor steps shared by the workbench e2e tests and the bench."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.api import Api
from tests.support.labeling import image_bytes, ontology_structure
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow

IMAGE_SIZE = (640, 480)


@dataclass
class LabProject:
    project_hash: str
    ontology_hash: str
    tasks: list[dict[str, Any]]

    def task_url(self, task_uuid: str) -> str:
        return f"/projects/{self.project_hash}/tasks/{task_uuid}"

    def stage_url(self, stage_uuid: str = ANNOTATE) -> str:
        return f"/projects/{self.project_hash}/stages/{stage_uuid}"


def lab_project(
    api: Api,
    images: int,
    *,
    title: str = "Streets",
    annotate_webhook: str | None = None,
    complete_webhook: str | None = None,
    weather_required: bool = False,
    size: tuple[int, int] = IMAGE_SIZE,
) -> LabProject:
    """Uploaded PNGs, Encord's example ontology, Annotate -> Review -> Complete."""
    ontology = api.create_ontology(title, ontology_structure(weather_required=weather_required))
    dataset = api.create_dataset(f"{title} images")
    files = [(f"frame-{i:03d}.png", image_bytes("PNG", size, seed=i + 1)) for i in range(images)]
    api.upload_images(dataset["dataset_hash"], files)
    project = api.create_project(
        title,
        [dataset["dataset_hash"]],
        workflow=basic_workflow(annotate_webhook, complete_webhook),
        ontology_hash=ontology["ontology_hash"],
    )
    tasks = api.tasks(project["project_hash"], stage_uuid=ANNOTATE)
    return LabProject(project["project_hash"], ontology["ontology_hash"], tasks)


def open_task(page: Page, project: LabProject, task_uuid: str) -> None:
    page.goto(project.task_url(task_uuid))
    wait_ready(page, task_uuid)


def wait_ready(page: Page, task_uuid: str) -> None:
    """The editor shows this task's image and accepts input."""
    expect(page.locator(f'[data-workbench][data-ready="{task_uuid}"]')).to_have_count(1)


def image_point(page: Page, fx: float, fy: float) -> tuple[float, float]:
    """Page coordinates of a point given as fractions of the shown image."""
    box = page.locator("[data-world] img").bounding_box()
    assert box is not None
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def drag_box(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*image_point(page, *start))
    page.mouse.down()
    page.mouse.move(*image_point(page, *end), steps=8)
    page.mouse.up()


def click_at(page: Page, fx: float, fy: float) -> None:
    page.mouse.click(*image_point(page, fx, fy))


def wait_saved(page: Page) -> None:
    expect(page.locator("[data-save-status]")).to_have_text("Saved", timeout=10_000)


def objects_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    units = row["labels"]["data_units"]
    return [obj for unit in units.values() for obj in unit["labels"]["objects"]]


__all__ = ["ANNOTATE", "REVIEW"]
