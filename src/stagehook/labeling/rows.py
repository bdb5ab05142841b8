"""Encord image label rows: what is stored, what is served, what is counted. Pure.

A row is stored as its label content only (``data_units → {hash: {labels}}``,
``object_answers``, ``classification_answers``); everything else in Encord's row (titles,
links, sizes, dates) is filled in from the data unit when the row is read or exported.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stagehook.labeling.ontology import Index, snake

Json = dict[str, Any]
_STAMPS = ("lastEditedAt", "lastEditedBy")


def encord_date(epoch: float) -> str:
    """Encord's long UTC form, e.g. ``Tue, 14 May 2024 09:31:07 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _content(labels: Json, data_hash: str) -> Json:
    unit = labels.get("data_units", {}).get(data_hash, {})
    inner = unit.get("labels", {})
    return {
        "objects": list(inner.get("objects", [])),
        "classifications": list(inner.get("classifications", [])),
    }


def _by(items: list[Json], key: str) -> dict[str, Json]:
    return {item[key]: item for item in items if isinstance(item, dict) and key in item}


def _stamp(item: Json, before: Json | None, user: str, now: str) -> None:
    """Creation stamps on new instances, edit stamps on ones that changed."""
    if before is None:
        item.setdefault("createdAt", now)
        item.setdefault("createdBy", user)
        return
    item["createdAt"] = before.get("createdAt", now)
    item["createdBy"] = before.get("createdBy", user)
    unchanged = {k: v for k, v in before.items() if k not in _STAMPS} == {
        k: v for k, v in item.items() if k not in _STAMPS
    }
    if unchanged:
        for key in _STAMPS:
            if key in before:
                item[key] = before[key]
    else:
        item["lastEditedAt"] = now
        item["lastEditedBy"] = user


def _polygon_keys(obj: Json) -> None:
    """Encord writes both ``polygon`` (first outer ring) and ``polygons``: so do we."""
    if "polygons" in obj:
        ring = obj["polygons"][0][0] if obj["polygons"] and obj["polygons"][0] else []
        obj["polygon"] = {
            str(i // 2): {"x": ring[i], "y": ring[i + 1]} for i in range(0, len(ring), 2)
        }
    elif "polygon" in obj:
        poly = obj["polygon"]
        points = list(poly.values()) if isinstance(poly, dict) else list(poly)
        obj["polygon"] = {str(i): {"x": p["x"], "y": p["y"]} for i, p in enumerate(points)}
        obj["polygons"] = [[[c for p in points for c in (p["x"], p["y"])]]]


def _name_answers(entry: Json, index: Index) -> None:
    for answer in entry.get("classifications", []):
        node = index.nodes[answer["featureHash"]]
        answer.setdefault("name", node.name)
        answer.setdefault("value", snake(node.name))
        answer.setdefault("manualAnnotation", True)
        if isinstance(answer["answers"], list):
            for chosen in answer["answers"]:
                option = index.nodes[chosen["featureHash"]].element
                chosen.setdefault("name", option.label)
                chosen.setdefault("value", option.value)


def normalise(
    index: Index, labels: Json, previous: Json, data_hash: str, user: str, now: float
) -> Json:
    """The content to store for a checked row: names from the ontology, stamps, both
    polygon keys, and one ``object_answers`` entry per object (as Encord writes them)."""
    stamp = encord_date(now)
    content = copy.deepcopy(_content(labels, data_hash))
    before = _content(previous, data_hash)
    old_objects = _by(before["objects"], "objectHash")
    for obj in content["objects"]:
        ontology_object = index.nodes[obj["featureHash"]].element
        obj.setdefault("name", ontology_object.name)
        obj.setdefault("value", snake(ontology_object.name))
        obj["color"] = ontology_object.color
        obj["shape"] = ontology_object.shape
        obj.setdefault("confidence", 1.0)
        obj.setdefault("manualAnnotation", True)
        if ontology_object.shape == "polygon":
            _polygon_keys(obj)
        elif ontology_object.shape == "point" and isinstance(obj["point"], list):
            obj["point"] = {"0": obj["point"][0]}  # Encord's form: always the key "0"
        _stamp(obj, old_objects.get(obj["objectHash"]), user, stamp)
    old_classes = _by(before["classifications"], "classificationHash")
    for cls in content["classifications"]:
        node = index.nodes[cls["featureHash"]]
        cls.setdefault("name", node.name)
        cls.setdefault("value", snake(node.name))
        cls.setdefault("confidence", 1.0)
        cls.setdefault("manualAnnotation", True)
        _stamp(cls, old_classes.get(cls["classificationHash"]), user, stamp)
    object_answers = copy.deepcopy(labels.get("object_answers", {}))
    for obj in content["objects"]:
        entry = object_answers.setdefault(obj["objectHash"], {"classifications": []})
        entry["objectHash"] = obj["objectHash"]
        _name_answers(entry, index)
    class_answers = copy.deepcopy(labels.get("classification_answers", {}))
    for class_hash, entry in class_answers.items():
        entry["classificationHash"] = class_hash
        entry.setdefault(
            "featureHash",
            _by(content["classifications"], "classificationHash")[class_hash]["featureHash"],
        )
        entry.setdefault("spaces", {})
        _name_answers(entry, index)
    return {
        "data_units": {data_hash: {"labels": content}},
        "object_answers": object_answers,
        "classification_answers": class_answers,
    }


def _answered(entries: Iterator[Json]) -> Iterator[str]:
    for entry in entries:
        for answer in entry.get("classifications", []):
            yield answer["featureHash"]
            if isinstance(answer.get("answers"), list):
                yield from (chosen["featureHash"] for chosen in answer["answers"])


def features_used(labels: Json) -> Counter[str]:
    """How often each ontology hash is used: instances, attributes answered, options chosen."""
    used: Counter[str] = Counter()
    for unit in labels.get("data_units", {}).values():
        inner = unit.get("labels", {})
        for item in [*inner.get("objects", []), *inner.get("classifications", [])]:
            used[item["featureHash"]] += 1
    used.update(_answered(iter(labels.get("object_answers", {}).values())))
    used.update(_answered(iter(labels.get("classification_answers", {}).values())))
    return used


def missing_required(index: Index, labels: Json) -> list[str]:
    """Names of required classifications (root attribute ``required``) left unanswered."""
    answered = set(_answered(iter(labels.get("classification_answers", {}).values())))
    return [root.name for root in index.required if root.featureNodeHash not in answered]


@dataclass(frozen=True)
class UnitInfo:
    """What Encord's row says about its image, from the data unit and its dataset."""

    data_hash: str
    data_title: str
    dataset_hash: str
    dataset_title: str
    data_link: str
    mime_type: str | None
    width: int | None
    height: int | None


def encord_row(
    label_hash: str, labels: Json, unit: UnitInfo, created_at: float, edited_at: float
) -> Json:
    """The full label row as Encord's SDK reads it (every key it indexes directly)."""
    content = _content(labels, unit.data_hash)
    status = "LABELLED" if content["objects"] or content["classifications"] else "NOT_LABELLED"
    return {
        "label_hash": label_hash,
        "branch_name": "main",
        "created_at": encord_date(created_at),
        "last_edited_at": encord_date(edited_at),
        "data_hash": unit.data_hash,
        "dataset_hash": unit.dataset_hash,
        "dataset_title": unit.dataset_title,
        "data_title": unit.data_title,
        "data_type": "image",
        "annotation_task_status": None,
        "is_shadow_data": False,
        "label_status": status,
        "data_units": {
            unit.data_hash: {
                "data_hash": unit.data_hash,
                "data_title": unit.data_title,
                "data_link": unit.data_link,
                "data_type": unit.mime_type or "image",
                "data_sequence": 0,
                "width": unit.width,
                "height": unit.height,
                "labels": content,
            }
        },
        "object_answers": labels.get("object_answers", {}),
        "classification_answers": labels.get("classification_answers", {}),
        "object_actions": {},
        "spaces": {},
    }
