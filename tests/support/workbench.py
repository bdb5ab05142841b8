"""Labeling projects and editor steps shared by the workbench e2e tests and the bench."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.support.api import Api
from tests.support.labeling import ontology_structure
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow

IMAGE_SIZE = (640, 480)


def scene_png(size: tuple[int, int], seed: int) -> bytes:
    """A small street scene (sky, road, a car, a sign): something to label in screenshots.

    ``seed`` moves the car, so every image has its own bytes (and sha256).
    """
    w, h = size
    image = Image.new("RGB", size, (135, 180, 215))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(h * 0.55), w, h], fill=(88, 92, 99))
    draw.rectangle([0, int(h * 0.52), w, int(h * 0.56)], fill=(150, 150, 140))
    x = int(w * (0.15 + 0.07 * (seed % 8)))
    draw.rectangle([x, int(h * 0.45), x + int(w * 0.28), int(h * 0.66)], fill=(190, 40, 30))
    draw.rectangle(
        [x + int(w * 0.05), int(h * 0.38), x + int(w * 0.21), int(h * 0.46)], fill=(160, 30, 25)
    )
    for wheel in (0.05, 0.2):
        cx, cy, r = x + int(w * wheel), int(h * 0.66), int(h * 0.045)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(20, 20, 20))
    sx = int(w * 0.8)
    draw.rectangle([sx - 3, int(h * 0.3), sx + 3, int(h * 0.56)], fill=(90, 90, 90))
    draw.polygon(
        [
            (sx, int(h * 0.12)),
            (sx + 40, int(h * 0.22)),
            (sx, int(h * 0.32)),
            (sx - 40, int(h * 0.22)),
        ],
        fill=(240, 170, 20),
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


_ROOT = Path(__file__).resolve().parents[2]


def docs_shot(page: Page, name: str) -> Path:
    """A screenshot for the docs: the viewport, in 256 colours (a third of the bytes).

    Written under artifacts/e2e/docs/ so a test run leaves the checkout clean; with
    ``STAGEHOOK_UPDATE_DOCS_IMAGES=1`` it replaces the picture in docs/img/ instead.
    """
    image = Image.open(io.BytesIO(page.screenshot()))
    update = os.environ.get("STAGEHOOK_UPDATE_DOCS_IMAGES") == "1"
    folder = _ROOT / "docs" / "img" if update else _ROOT / "artifacts" / "e2e" / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    image.convert("RGB").quantize(colors=256).save(path, optimize=True)
    return path


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
    structure: dict[str, Any] | None = None,
) -> LabProject:
    """Uploaded PNGs, Encord's example ontology (or ``structure``), Annotate -> Review ->
    Complete."""
    chosen = structure or ontology_structure(weather_required=weather_required)
    ontology = api.create_ontology(title, chosen)
    dataset = api.create_dataset(f"{title} images")
    files = [(f"frame-{i:03d}.png", scene_png(size, seed=i)) for i in range(images)]
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


__all__ = ["ANNOTATE", "IMAGE_SIZE", "REVIEW"]
