"""COCO from Encord label rows. Pure: the export streams what these functions return.

Pixels are normalised coordinates times the image size (x and w by width, y and h by height),
as Encord's own COCO exporter does. Boxes become ``bbox``; polygons ``segmentation``
(outer rings; COCO polygons cannot hold holes); points one COCO keypoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stagehook.labeling.ontology import Index
from stagehook.labeling.rows import UnitInfo

Json = dict[str, Any]


def categories(index: Index) -> list[Json]:
    """One category per ontology object; its id is the object's (numeric) ``id``."""
    out = []
    for obj in index.structure.objects:
        category: Json = {
            "id": int(obj.id or 0),
            "name": obj.name,
            "supercategory": obj.shape,
            "feature_hash": obj.featureNodeHash,
        }
        if obj.shape == "point":
            category["keypoints"] = [obj.name]
            category["skeleton"] = []
        out.append(category)
    return out


def image(image_id: int, unit: UnitInfo) -> Json:
    return {
        "id": image_id,
        "file_name": unit.data_title,
        "coco_url": unit.data_link,
        "width": unit.width,
        "height": unit.height,
        "data_hash": unit.data_hash,
    }


def _rings(obj: Json) -> list[list[float]]:
    if "polygons" in obj:
        return [polygon[0] for polygon in obj["polygons"] if polygon]
    points = obj["polygon"].values() if isinstance(obj["polygon"], dict) else obj["polygon"]
    return [[c for p in points for c in (p["x"], p["y"])]]


def _area(ring: list[float]) -> float:
    xs, ys = ring[0::2], ring[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2


def _geometry(obj: Json, width: int, height: int) -> Json:
    shape = obj.get("shape")
    if shape == "bounding_box":
        b = obj["boundingBox"]
        box = [b["x"] * width, b["y"] * height, b["w"] * width, b["h"] * height]
        return {"bbox": box, "area": box[2] * box[3], "segmentation": []}
    if shape == "point":
        p = obj["point"]["0"]
        x, y = p["x"] * width, p["y"] * height
        return {"bbox": [x, y, 0, 0], "area": 0, "keypoints": [x, y, 2], "num_keypoints": 1}
    rings = [
        [c * (width if i % 2 == 0 else height) for i, c in enumerate(ring)] for ring in _rings(obj)
    ]
    xs = [c for ring in rings for c in ring[0::2]]
    ys = [c for ring in rings for c in ring[1::2]]
    box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    return {"bbox": box, "area": sum(_area(r) for r in rings), "segmentation": rings}


def object_annotations(
    labels: Json, unit: UnitInfo, image_id: int, index: Index, first_id: int
) -> Iterator[Json]:
    """One annotation per object; none when the image's size is unknown (URI units)."""
    if not unit.width or not unit.height:
        return
    inner = labels.get("data_units", {}).get(unit.data_hash, {}).get("labels", {})
    answers = labels.get("object_answers", {})
    next_id = first_id
    for obj in inner.get("objects", []):
        node = index.get(obj.get("featureHash"), "object")
        if node is None:  # an element archived or removed since: nothing to map it to
            continue
        yield {
            "id": next_id,
            "image_id": image_id,
            "category_id": int(node.element.id or 0),
            "iscrowd": 0,
            **_geometry(obj, unit.width, unit.height),
            "attributes": {
                "object_hash": obj.get("objectHash"),
                "feature_hash": obj.get("featureHash"),
                "confidence": obj.get("confidence", 1.0),
                "answers": answers.get(obj.get("objectHash"), {}).get("classifications", []),
            },
        }
        next_id += 1
