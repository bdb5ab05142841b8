"""Check an image label row against its ontology; the first problem names its JSON path.

Pure. Paths start at the request body (``labels.data_units.<hash>.labels.objects[0]...``)
so a client can point at the offending value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from stagehook.errors import InvalidInput
from stagehook.labeling.ontology import Attribute, Index

#: Rounding slack on the far edges of a box (x + w, y + h) normalised in floating point.
EDGE_EPSILON = 1e-6


class LabelError(InvalidInput):
    code = "invalid_labels"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _key(path: str, key: str) -> str:
    """A map key chosen by the data (a hash, a vertex number): always bracketed."""
    return f"{path}[{json.dumps(key)}]"


def _dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LabelError(path, "must be an object")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise LabelError(path, "must be an array")
    return value


def _hash(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 100:
        raise LabelError(path, "must be a non-empty string of at most 100 characters")
    return value


def _unit(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LabelError(path, "must be a finite number")
    if not 0 <= value <= 1:
        raise LabelError(path, f"{value} is outside 0-1 (coordinates are normalised)")
    return float(value)


def _point(value: Any, path: str) -> None:
    point = _dict(value, path)
    for axis in ("x", "y"):
        if axis not in point:
            raise LabelError(path, f"needs {axis}")
        _unit(point[axis], f"{path}.{axis}")


def _box(value: Any, path: str) -> None:
    box = _dict(value, path)
    for key in ("x", "y", "w", "h"):
        if key not in box:
            raise LabelError(path, f"needs {key}")
        _unit(box[key], f"{path}.{key}")
    if box["x"] + box["w"] > 1 + EDGE_EPSILON:
        raise LabelError(f"{path}.w", "the box goes past the right edge (x + w > 1)")
    if box["y"] + box["h"] > 1 + EDGE_EPSILON:
        raise LabelError(f"{path}.h", "the box goes past the bottom edge (y + h > 1)")


def _vertices(value: Any, path: str) -> int:
    """Encord's ``{"0": {x, y}, ...}`` (or an array of points): the number of vertices."""
    if isinstance(value, dict):
        items = [(_key(path, k), v) for k, v in value.items()]
    else:
        items = [(f"{path}[{i}]", v) for i, v in enumerate(_list(value, path))]
    for item_path, point in items:
        _point(point, item_path)
    return len(items)


def _rings(value: Any, path: str) -> None:
    """``polygons``: polygons → rings (outer first) → flat ``[x1, y1, x2, y2, ...]``."""
    for i, polygon in enumerate(_list(value, path)):
        for j, ring in enumerate(_list(polygon, f"{path}[{i}]")):
            ring_path = f"{path}[{i}][{j}]"
            flat = _list(ring, ring_path)
            if len(flat) % 2:
                raise LabelError(ring_path, "needs x, y pairs")
            if len(flat) < 6:
                raise LabelError(ring_path, f"a polygon needs 3 vertices, not {len(flat) // 2}")
            for k, number in enumerate(flat):
                _unit(number, f"{ring_path}[{k}]")


GEOMETRY = {"bounding_box": "boundingBox", "polygon": "polygon", "point": "point"}
_ALL_GEOMETRY = (
    "boundingBox",
    "rotatableBoundingBox",
    "polygon",
    "polygons",
    "polyline",
    "point",
    "skeleton",
    "bitmask",
)


def _geometry(obj: dict[str, Any], shape: str, name: str, path: str) -> None:
    expected = {"polygon", "polygons"} if shape == "polygon" else {GEOMETRY[shape]}
    for key in _ALL_GEOMETRY:
        if key in obj and key not in expected:
            raise LabelError(
                f"{path}.{key}", f"{name!r} is a {shape}; give {GEOMETRY[shape]}, not {key}"
            )
    if shape == "bounding_box":
        if "boundingBox" not in obj:
            raise LabelError(path, f"{name!r} is a bounding_box: it needs boundingBox")
        _box(obj["boundingBox"], f"{path}.boundingBox")
    elif shape == "point":
        if "point" not in obj:
            raise LabelError(path, f"{name!r} is a point: it needs point")
        if _vertices(obj["point"], f"{path}.point") != 1:
            raise LabelError(f"{path}.point", "a point has exactly one vertex")
    else:
        if "polygon" not in obj and "polygons" not in obj:
            raise LabelError(path, f"{name!r} is a polygon: it needs polygon or polygons")
        if "polygon" in obj:
            n = _vertices(obj["polygon"], f"{path}.polygon")
            if n < 3:
                raise LabelError(f"{path}.polygon", f"a polygon needs 3 vertices, not {n}")
        if "polygons" in obj:
            _rings(obj["polygons"], f"{path}.polygons")


def _instances(
    items: list[Any], path: str, id_key: str, kind: str, index: Index
) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """Each instance with its path, checked for a unique id and a known feature hash."""
    seen: set[str] = set()
    for i, raw in enumerate(items):
        item_path = f"{path}[{i}]"
        item = _dict(raw, item_path)
        ident = _hash(item.get(id_key), f"{item_path}.{id_key}")
        if ident in seen:
            raise LabelError(f"{item_path}.{id_key}", f"{ident!r} is used twice")
        seen.add(ident)
        feature = item.get("featureHash")
        node = index.get(feature, "object" if kind == "object" else "classification")
        if node is None:
            raise LabelError(
                f"{item_path}.featureHash",
                f"{feature!r} is not {'an object' if kind == 'object' else 'a classification'}"
                " in this project's ontology",
            )
        yield item_path, item, ident, node.hash


def _answer(attribute: Attribute, answers: Any, path: str, index: Index) -> None:
    if attribute.type == "text":
        if not isinstance(answers, str):
            raise LabelError(path, f"{attribute.name!r} is a text attribute: give a string")
        return
    if attribute.type == "numeric":
        if isinstance(answers, bool) or not isinstance(answers, int | float):
            raise LabelError(path, f"{attribute.name!r} is numeric: give a number")
        return
    chosen = _list(answers, path)
    if attribute.type == "radio" and len(chosen) > 1:
        raise LabelError(path, f"{attribute.name!r} is a radio: one answer, not {len(chosen)}")
    options = {o.featureNodeHash for o in attribute.options}
    for i, raw in enumerate(chosen):
        option = _dict(raw, f"{path}[{i}]").get("featureHash")
        if option not in options:
            raise LabelError(
                f"{path}[{i}].featureHash", f"{option!r} is not an option of {attribute.name!r}"
            )


def _answers(entry: Any, path: str, owner: str, index: Index) -> None:
    attributes = index.attributes_of(owner)
    for i, raw in enumerate(_list(_dict(entry, path).get("classifications", []), path)):
        answer_path = f"{path}.classifications[{i}]"
        answer = _dict(raw, answer_path)
        feature = answer.get("featureHash")
        attribute = attributes.get(feature) if isinstance(feature, str) else None
        if attribute is None:
            raise LabelError(
                f"{answer_path}.featureHash",
                f"{feature!r} is not an attribute of this element in the ontology",
            )
        if "answers" not in answer:
            raise LabelError(answer_path, "needs answers")
        _answer(attribute, answer["answers"], f"{answer_path}.answers", index)


def check_row(index: Index, labels: Mapping[str, Any], data_hash: str) -> None:
    """Raise ``LabelError`` at the first value the ontology does not allow."""
    units = _dict(labels.get("data_units", {}), "labels.data_units")
    objects: dict[str, str] = {}
    classifications: dict[str, str] = {}
    for unit_hash, unit in units.items():
        unit_path = _key("labels.data_units", unit_hash)
        if unit_hash != data_hash:
            raise LabelError(unit_path, f"this row labels data unit {data_hash}, not {unit_hash}")
        content = _dict(_dict(unit, unit_path).get("labels", {}), f"{unit_path}.labels")
        path = f"{unit_path}.labels.objects"
        for item_path, item, ident, feature in _instances(
            _list(content.get("objects", []), path), path, "objectHash", "object", index
        ):
            node = index.nodes[feature]
            shape = node.element.shape
            if "shape" in item and item["shape"] != shape:
                raise LabelError(
                    f"{item_path}.shape", f"{node.name!r} is a {shape}, not {item['shape']!r}"
                )
            _geometry(item, shape, node.name, item_path)
            objects[ident] = feature
        path = f"{unit_path}.labels.classifications"
        for _, _, ident, feature in _instances(
            _list(content.get("classifications", []), path),
            path,
            "classificationHash",
            "classification",
            index,
        ):
            classifications[ident] = feature
    answers = _dict(labels.get("object_answers", {}), "labels.object_answers")
    for object_hash, entry in answers.items():
        path = _key("labels.object_answers", object_hash)
        if object_hash not in objects:
            raise LabelError(path, f"no object {object_hash!r} in data_units")
        _answers(entry, path, objects[object_hash], index)
    answers = _dict(labels.get("classification_answers", {}), "labels.classification_answers")
    for class_hash, entry in answers.items():
        path = _key("labels.classification_answers", class_hash)
        if class_hash not in classifications:
            raise LabelError(path, f"no classification {class_hash!r} in data_units")
        feature = _dict(entry, path).get("featureHash", classifications[class_hash])
        if feature != classifications[class_hash]:
            raise LabelError(f"{path}.featureHash", "differs from the instance's featureHash")
        _answers(entry, path, classifications[class_hash], index)
    for class_hash in classifications:
        if class_hash not in answers:
            raise LabelError(
                _key("labels.classification_answers", class_hash),
                "every classification instance needs its answers here",
            )
