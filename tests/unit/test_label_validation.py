"""The pure label-row checker and row helpers: paths of the first problem, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from stagehook.errors import InvalidInput
from stagehook.labeling.ontology import Index, Structure, complete, removed
from stagehook.labeling.rows import features_used, missing_required, normalise
from stagehook.labeling.validate import LabelError, check_row
from tests.support.labeling import (
    CAPTION,
    CAPTION_Q,
    CAR,
    HEAD,
    NO,
    OCCLUDED,
    SIGN,
    WEATHER,
    YES,
    box,
    ontology_structure,
    row,
    weather,
)

DATA = "5e2a9c17-8d43-4f0b-a6e1-27c9b3d08f62"
Json = dict[str, Any]


def index(**kwargs: Any) -> Index:
    return Index(complete(Structure.model_validate(ontology_structure(**kwargs))))


def error_of(labels: Json) -> LabelError:
    with pytest.raises(LabelError) as err:
        check_row(index(), labels, DATA)
    return err.value


def objects_path(rest: str) -> str:
    return f'labels.data_units["{DATA}"].labels.objects{rest}'


def test_a_complete_encord_row_passes() -> None:
    instance, answers = weather()
    caption = {"classificationHash": "Ek4vR0mN", "featureHash": CAPTION}
    answers["Ek4vR0mN"] = {
        "classificationHash": "Ek4vR0mN",
        "classifications": [{"featureHash": CAPTION_Q, "answers": "wet road"}],
    }
    labels = row(
        DATA,
        [
            box(),
            {"objectHash": "s", "featureHash": SIGN, "polygons": [[[0, 0, 1, 0, 1, 1]]]},
            {"objectHash": "h", "featureHash": HEAD, "point": {"0": {"x": 1, "y": 0}}},
        ],
        [instance, caption],
        classification_answers=answers,
        object_answers={
            "q7Rk2mXa": {"classifications": [{"featureHash": OCCLUDED, "answers": []}]}
        },
    )
    check_row(index(), labels, DATA)


@pytest.mark.parametrize(
    ("labels", "path", "needle"),
    [
        (row(DATA, [box(feature=WEATHER)]), objects_path("[0].featureHash"), "not an object"),
        (row(DATA, [box(w=0.95)]), objects_path("[0].boundingBox.w"), "right edge"),
        (row(DATA, [box(y=-0.1)]), objects_path("[0].boundingBox.y"), "outside 0-1"),
        (row(DATA, [box(x=float("nan"))]), objects_path("[0].boundingBox.x"), "finite number"),
        (row(DATA, [box(), box()]), objects_path("[1].objectHash"), "used twice"),
        (
            row(DATA, [{"objectHash": "h", "featureHash": HEAD, "boundingBox": {}}]),
            objects_path("[0].boundingBox"),
            "is a point",
        ),
        (
            row(DATA, [{"objectHash": "s", "featureHash": SIGN, "polygons": [[[0, 0, 1, 1]]]}]),
            objects_path("[0].polygons[0][0]"),
            "3 vertices, not 2",
        ),
        (
            row(DATA, [{**box(), "shape": "polygon"}]),
            objects_path("[0].shape"),
            "is a bounding_box",
        ),
        (row("other", []), 'labels.data_units["other"]', "not other"),
        (
            row(DATA, [box()], object_answers={"zz": {"classifications": []}}),
            'labels.object_answers["zz"]',
            "no object",
        ),
        (
            row(
                DATA,
                [box()],
                object_answers={
                    "q7Rk2mXa": {
                        "classifications": [
                            {
                                "featureHash": OCCLUDED,
                                "answers": [{"featureHash": YES}, {"featureHash": NO}],
                            }
                        ]
                    }
                },
            ),
            'labels.object_answers["q7Rk2mXa"].classifications[0].answers',
            "a radio: one answer, not 2",
        ),
        (
            row(DATA, [], [weather()[0]]),
            'labels.classification_answers["Jd5tY1oQ"]',
            "needs its answers",
        ),
    ],
)
def test_first_problem_is_named_by_its_path(labels: Json, path: str, needle: str) -> None:
    err = error_of(labels)
    assert err.path == path and needle in err.message


def test_normalise_fills_names_and_stamps_only_changed_instances() -> None:
    idx = index()
    first = normalise(idx, row(DATA, [box(), box(object_hash="b2")]), {}, DATA, "ana", 0.0)
    car = first["data_units"][DATA]["labels"]["objects"][0]
    assert (car["name"], car["value"], car["createdBy"]) == ("Car", "car", "ana")
    assert car["createdAt"] == "Thu, 01 Jan 1970 00:00:00 UTC"
    edited = row(DATA, [box(x=0.2), box(object_hash="b2")])
    second = normalise(idx, edited, first, DATA, "bo", 60.0)
    moved, kept = second["data_units"][DATA]["labels"]["objects"]
    assert (moved["createdBy"], moved["lastEditedBy"]) == ("ana", "bo")
    assert "lastEditedBy" not in kept
    assert features_used(second) == {CAR: 2}


def test_points_and_polygons_are_stored_in_encord_form() -> None:
    labels = row(
        DATA,
        [
            {"objectHash": "h", "featureHash": HEAD, "point": [{"x": 0.5, "y": 0.5}]},
            {"objectHash": "s", "featureHash": SIGN, "polygon": [{"x": 0, "y": 0}] * 3},
        ],
    )
    check_row(index(), labels, DATA)
    point, polygon = normalise(index(), labels, {}, DATA, "ana", 0.0)["data_units"][DATA]["labels"][
        "objects"
    ]
    assert point["point"] == {"0": {"x": 0.5, "y": 0.5}}
    assert polygon["polygon"] == {str(i): {"x": 0, "y": 0} for i in range(3)}
    assert polygon["polygons"] == [[[0, 0, 0, 0, 0, 0]]]


def test_required_classifications_and_removed_elements() -> None:
    idx = index(weather_required=True)
    assert missing_required(idx, row(DATA, [])) == ["Weather"]
    instance, answers = weather()
    assert missing_required(idx, row(DATA, [], [instance], classification_answers=answers)) == []
    old = complete(Structure.model_validate(ontology_structure()))
    new = old.model_copy(deep=True)
    new.objects = new.objects[1:]
    assert removed(old, new) == {CAR: "Car", OCCLUDED: "Occluded", YES: "Yes", NO: "No"}


def test_completing_keeps_given_hashes_and_refuses_duplicates() -> None:
    structure = ontology_structure()
    done = complete(Structure.model_validate(structure))
    assert complete(done) == done
    structure["objects"][1]["featureNodeHash"] = CAR
    with pytest.raises(InvalidInput, match="used twice"):
        complete(Structure.model_validate(structure))


def test_answers_to_a_question_nested_under_a_radio_option_sit_flat_beside_it() -> None:
    """Encord's shape: the nested attribute's answer is one more entry in the same list."""
    structure = ontology_structure()
    nested = {
        "name": "How much",
        "type": "radio",
        "featureNodeHash": "Hw7mUc4Q",
        "options": [{"label": "Mostly", "featureNodeHash": "Ms5tLy3B"}],
    }
    structure["objects"][0]["attributes"][0]["options"][0]["options"] = [nested]
    answers = [
        {"featureHash": "Hw7mUc4Q", "answers": [{"featureHash": "Ms5tLy3B"}]},
        {"featureHash": OCCLUDED, "answers": [{"featureHash": YES}]},
    ]
    labels = row(
        DATA,
        [box()],
        object_answers={"q7Rk2mXa": {"objectHash": "q7Rk2mXa", "classifications": answers}},
    )
    check_row(Index(complete(Structure.model_validate(structure))), labels, DATA)
    answers[0]["answers"] = [{"featureHash": YES}]  # an option of the parent, not of it
    with pytest.raises(LabelError, match="not an option of 'How much'"):
        check_row(Index(complete(Structure.model_validate(structure))), labels, DATA)
