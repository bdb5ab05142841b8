"""Setting up labeling in the browser: an ontology built on its page, images dropped on
a dataset, a project that chooses the ontology."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.browser import Shot
from tests.support.workbench import docs_shot, scene_png

pytestmark = pytest.mark.e2e


def _drop(page: Page, target: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drop files on ``target`` as a person dragging them from their desktop would."""
    payload = [(name, kind, base64.b64encode(data).decode()) for name, kind, data in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, type, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], name, { type }));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(target, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})


def test_ontology_page_upload_by_drop_and_a_project_that_uses_them(
    page: Page, api: Api, shot: Shot
) -> None:
    ui.sign_in_with_key(page)
    page.get_by_role("link", name="Ontologies").click()
    page.get_by_label("Title").fill("Street scenes")
    page.get_by_role("button", name="Create ontology").click()
    expect(page.get_by_role("heading", name="Street scenes")).to_be_visible()

    for name, shape in (("Car", "Box"), ("Road sign", "Polygon"), ("Head", "Point")):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Shape").select_option(label=shape)
        page.get_by_role("button", name="Add object").click()
        expect(page.get_by_role("cell", name=name, exact=False).first).to_be_visible()
    classifications = page.locator(
        "section", has=page.get_by_role("heading", name="Classifications")
    )
    classifications.get_by_label("Question").fill("Weather")
    classifications.get_by_label("Options").fill("Rain\nSun\nFog")
    classifications.get_by_label("Required before submit").check()
    classifications.get_by_role("button", name="Add classification").click()
    expect(page.get_by_role("cell", name="Rain, Sun, Fog")).to_be_visible()
    ontology_url = page.url
    shot("ontology")
    docs_shot(page, "ontology")

    dataset = api.create_dataset("Street images")
    page.goto(f"/datasets/{dataset['dataset_hash']}")
    files = [
        ("street-1.png", "image/png", scene_png((320, 240), 1)),
        ("street-2.png", "image/png", scene_png((320, 240), 2)),
        ("notes.txt", "image/png", b"not an image at all"),
    ]
    _drop(page, "[data-dropzone]", files)
    expect(page.locator("[data-upload-summary]")).to_have_text("2 uploaded, 1 failed")
    failed = page.locator('[data-upload="notes.txt"]')
    expect(failed).to_contain_text("notes.txt")
    expect(failed).not_to_contain_text("uploaded")
    expect(page.locator("[data-units] tbody tr")).to_have_count(2)
    shot("uploaded")
    assert len(list(api.iter_data_units(dataset["dataset_hash"]))) == 2

    page.goto("/projects/new")
    page.get_by_label("Title").fill("Streets")
    page.get_by_label("Street images").check()
    page.get_by_label("What annotators label").select_option(
        label="Street scenes (3 objects, 1 classifications)"
    )
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Streets")).to_be_visible()
    page.goto(ontology_url)
    expect(page.get_by_role("link", name="Streets")).to_be_visible()
