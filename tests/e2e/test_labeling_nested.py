"""Questions nested under a radio option (Encord allows them) in the workbench's side
panel: shown when their option is chosen, saved flat in Encord's answer lists."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.labeling import CAR, OCCLUDED, RAIN, WEATHER, WEATHER_Q, YES, ontology_structure
from tests.support.workbench import drag_box, lab_project, objects_of, open_task, wait_saved

pytestmark = pytest.mark.e2e

HOW_MUCH, PARTLY, MOSTLY = "Hw7mUc4Q", "Pt2lYq9A", "Ms5tLy3B"
INTENSITY, LIGHT, HEAVY = "In8tNs1T", "Lg6hTw0C", "Hv4yRn7D"


def _nested(name: str, feature: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "radio",
        "featureNodeHash": feature,
        "options": [{"label": label, "featureNodeHash": h} for label, h in options],
    }


def _structure() -> dict[str, Any]:
    """Occluded: Yes -> How much?; Weather: Rain -> Intensity."""
    structure = ontology_structure()
    occluded = structure["objects"][0]["attributes"][0]
    occluded["options"][0]["options"] = [
        _nested("How much", HOW_MUCH, [("Partly", PARTLY), ("Mostly", MOSTLY)])
    ]
    weather = structure["classifications"][0]["attributes"][0]
    weather["options"][0]["options"] = [
        _nested("Intensity", INTENSITY, [("Light", LIGHT), ("Heavy", HEAVY)])
    ]
    return structure


def _answers(entries: list[dict[str, Any]]) -> dict[str, str]:
    """attribute featureHash -> the chosen option's featureHash."""
    return {e["featureHash"]: e["answers"][0]["featureHash"] for e in entries}


def test_a_question_nested_under_a_radio_option_is_shown_answered_and_saved(
    page: Page, api: Api
) -> None:
    project = lab_project(api, 1, structure=_structure())
    task = project.tasks[0]
    ui.sign_in_with_key(page)
    open_task(page, project, task["task_uuid"])
    how_much = page.locator(f'[data-nested="{YES}"]')
    intensity = page.locator(f'[data-nested="{RAIN}"]')
    expect(intensity).to_be_hidden()

    page.keyboard.press("1")
    drag_box(page, (0.2, 0.2), (0.4, 0.4))
    expect(how_much).to_be_hidden()
    page.get_by_role("radio", name="Yes").click()  # the box's Occluded attribute
    expect(how_much).to_be_visible()
    page.keyboard.press("Tab")  # into the nested question, by keyboard
    page.keyboard.press("Space")  # Partly
    page.keyboard.press("ArrowDown")  # Mostly
    expect(page.get_by_role("radio", name="Mostly")).to_be_checked()

    page.keyboard.press("Escape")
    page.keyboard.press("Alt+1")  # Weather: Rain, which asks for the intensity
    expect(intensity).to_be_visible()
    intensity.get_by_role("radio", name="Heavy").click()
    wait_saved(page)

    row = api.get_label_row(project.project_hash, task["label_hash"])
    (car,) = objects_of(row)
    assert car["featureHash"] == CAR
    entries = row["labels"]["object_answers"][car["objectHash"]]["classifications"]
    assert _answers(entries) == {OCCLUDED: YES, HOW_MUCH: MOSTLY}
    nested = next(e for e in entries if e["featureHash"] == HOW_MUCH)
    assert (nested["name"], nested["answers"][0]["name"]) == ("How much", "Mostly")
    (weather,) = row["labels"]["classification_answers"].values()
    assert weather["featureHash"] == WEATHER
    assert _answers(weather["classifications"]) == {WEATHER_Q: RAIN, INTENSITY: HEAVY}

    # Read back: the nested answers show again; the other option drops its questions.
    page.reload()
    open_task(page, project, task["task_uuid"])
    expect(page.get_by_role("radio", name="Heavy")).to_be_checked()
    page.get_by_role("radio", name="Sun").click()
    expect(intensity).to_be_hidden()
    wait_saved(page)
    row = api.get_label_row(project.project_hash, task["label_hash"])
    (weather,) = row["labels"]["classification_answers"].values()
    assert [e["featureHash"] for e in weather["classifications"]] == [WEATHER_Q]
