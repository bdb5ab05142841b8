"""Ontologies over real HTTP on both backends: create, read, grow, and guarded removal."""

from __future__ import annotations

import pytest

from stagehook.client import ApiError
from tests.support.api import Api
from tests.support.labeling import CAR, SIGN, box, ontology_structure, row
from tests.support.workflows import basic_workflow


def test_create_fills_ids_and_hashes_and_keeps_given_ones(api: Api) -> None:
    structure = ontology_structure()
    structure["objects"].append({"name": "Bike", "color": "#00FF00", "shape": "point"})
    created = api.create_ontology("streets", structure)
    objects = created["structure"]["objects"]
    assert [o["id"] for o in objects] == ["1", "2", "3", "4"]
    assert objects[0]["featureNodeHash"] == CAR
    assert len(objects[3]["featureNodeHash"]) == 8
    occluded = objects[0]["attributes"][0]
    assert occluded["id"] == "1.1"
    assert [o["value"] for o in occluded["options"]] == ["yes", "no"]
    assert [o["id"] for o in occluded["options"]] == ["1.1.1", "1.1.2"]
    fetched = api.get_ontology(created["ontology_hash"])
    assert fetched["structure"] == created["structure"]
    listed = api.request("GET", "/ontologies")["ontologies"]
    assert [o["ontology_hash"] for o in listed] == [created["ontology_hash"]]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda s: s["objects"][0].update(shape="cuboid"), "shape"),
        (lambda s: s["objects"][0].update(color="red"), "color"),
        (lambda s: s["objects"][0].update(id="car"), "id"),
        (
            lambda s: s["classifications"][0]["attributes"].append({"name": "x", "type": "text"}),
            "attributes",
        ),
        (lambda s: s["objects"][1].update(featureNodeHash=CAR), "used twice"),
        (lambda s: s["classifications"][0]["attributes"][0].update(options=[]), "needs options"),
    ],
)
def test_bad_structures_are_422(api: Api, change: object, needle: str) -> None:
    structure = ontology_structure()
    change(structure)  # type: ignore[operator]
    with pytest.raises(ApiError) as err:
        api.create_ontology("bad", structure)
    assert err.value.status == 422 and needle in err.value.message


def test_grow_while_used_and_refuse_removing_used_elements(api: Api) -> None:
    ontology = api.create_ontology("streets", ontology_structure())
    dataset, units = api.dataset_with_units(1)
    project = api.create_project(
        "p", [dataset], workflow=basic_workflow(), ontology_hash=ontology["ontology_hash"]
    )
    assert (
        api.request("GET", f"/projects/{project['project_hash']}")["ontology_hash"]
        == (ontology["ontology_hash"])
    )
    task = api.tasks(project["project_hash"])[0]
    api.put_label_row(
        project["project_hash"],
        task["label_hash"],
        row(units[0], [box(object_hash="a1"), box(object_hash="a2", x=0.5)]),
        0,
    )

    grown = ontology_structure()
    grown["objects"].append({"name": "Bike", "color": "#00FF00", "shape": "point"})
    after = api.put_ontology(ontology["ontology_hash"], "streets", grown)
    assert [o["name"] for o in after["structure"]["objects"]][-1] == "Bike"
    assert after["projects"] == [{"project_hash": project["project_hash"], "title": "p"}]

    without_car = ontology_structure()
    without_car["objects"] = [o for o in without_car["objects"] if o["featureNodeHash"] != CAR]
    with pytest.raises(ApiError) as err:
        api.put_ontology(ontology["ontology_hash"], "streets", without_car)
    assert err.value.status == 409 and "2 labels use 'Car'" in err.value.message

    unused_gone = ontology_structure()
    unused_gone["objects"] = [o for o in unused_gone["objects"] if o["featureNodeHash"] != SIGN]
    api.put_ontology(ontology["ontology_hash"], "streets", unused_gone)
    hashes = [
        o["featureNodeHash"]
        for o in api.get_ontology(ontology["ontology_hash"])["structure"]["objects"]
    ]
    assert SIGN not in hashes and CAR in hashes


def test_project_takes_its_ontology_from_a_template(api: Api) -> None:
    ontology = api.create_ontology("streets", ontology_structure())
    template = api.request(
        "POST",
        "/workflow-templates",
        json={
            "title": "t",
            "workflow": basic_workflow(),
            "ontology_hash": ontology["ontology_hash"],
        },
    )
    project = api.create_project("p", [], workflow_template_hash=template["template_hash"])
    assert project["ontology_hash"] == ontology["ontology_hash"]
    with pytest.raises(ApiError) as err:
        api.create_project("p", [], workflow=basic_workflow(), ontology_hash="nope")
    assert err.value.status == 404
