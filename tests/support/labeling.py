"""Ontologies, images and Encord label rows shared by the labeling tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.support.api import Api
from tests.support.workflows import basic_workflow

Json = dict[str, Any]

CAR, SIGN, HEAD = "a3f9c2e1", "7b1d04ce", "e20a9f13"
OCCLUDED, YES, NO = "Qk3xT9aP", "Zr8mN2Lw", "Lp0sV6Hc"
WEATHER, WEATHER_Q, RAIN, SUN = "5c8e7a20", "Xn4vB1qR", "Gy3dJ8wF", "Hb1xK5tE"
CAPTION, CAPTION_Q = "0e93ab57", "Tj2qM7xC"


def ontology_structure(*, weather_required: bool = False) -> Json:
    """Encord's example ontology: a box, a polygon and a point; radio and text."""
    return {
        "objects": [
            {
                "name": "Car",
                "color": "#D33115",
                "shape": "bounding_box",
                "featureNodeHash": CAR,
                "attributes": [
                    {
                        "name": "Occluded",
                        "type": "radio",
                        "featureNodeHash": OCCLUDED,
                        "options": [
                            {"label": "Yes", "featureNodeHash": YES},
                            {"label": "No", "featureNodeHash": NO},
                        ],
                    }
                ],
            },
            {"name": "Road Sign", "color": "#E27300", "shape": "polygon", "featureNodeHash": SIGN},
            {
                "name": "Pedestrian Head",
                "color": "#16406C",
                "shape": "point",
                "featureNodeHash": HEAD,
            },
        ],
        "classifications": [
            {
                "featureNodeHash": WEATHER,
                "attributes": [
                    {
                        "name": "Weather",
                        "type": "radio",
                        "featureNodeHash": WEATHER_Q,
                        "required": weather_required,
                        "options": [
                            {"label": "Rain", "featureNodeHash": RAIN},
                            {"label": "Sun", "featureNodeHash": SUN},
                        ],
                    }
                ],
            },
            {
                "featureNodeHash": CAPTION,
                "attributes": [{"name": "Caption", "type": "text", "featureNodeHash": CAPTION_Q}],
            },
        ],
    }


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    """A real image file; ``seed`` changes its pixels (and so its sha256)."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 11) % 256, (seed * 5) % 256))
    image.putpixel((0, 0), (seed % 256, (seed // 256) % 256, 7))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def box(feature: str = CAR, object_hash: str = "q7Rk2mXa", **coords: float) -> Json:
    geometry = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4} | coords
    return {"objectHash": object_hash, "featureHash": feature, "boundingBox": geometry}


def row(
    data_hash: str, objects: list[Json], classifications: list[Json] | None = None, **extra: Any
) -> Json:
    """The ``labels`` of a PUT: Encord's image label row content."""
    return {
        "data_units": {
            data_hash: {"labels": {"objects": objects, "classifications": classifications or []}}
        },
        "object_answers": extra.get("object_answers", {}),
        "classification_answers": extra.get("classification_answers", {}),
    }


def weather(answer: str = RAIN, classification_hash: str = "Jd5tY1oQ") -> tuple[Json, Json]:
    """A Weather classification instance and its answers entry."""
    instance = {"classificationHash": classification_hash, "featureHash": WEATHER}
    answers = {
        classification_hash: {
            "classificationHash": classification_hash,
            "featureHash": WEATHER,
            "classifications": [{"featureHash": WEATHER_Q, "answers": [{"featureHash": answer}]}],
        }
    }
    return instance, answers


def labeling_project(
    api: Api, n: int = 1, *, weather_required: bool = False, hook: str | None = None
) -> tuple[str, list[Json], list[Json]]:
    ontology = api.create_ontology("streets", ontology_structure(weather_required=weather_required))
    dataset = api.create_dataset("photos")["dataset_hash"]
    units = api.upload_images(
        dataset, [(f"img{i}.png", image_bytes("PNG", (200, 100), seed=i)) for i in range(n)]
    )
    project = api.create_project(
        "streets",
        [dataset],
        workflow=basic_workflow(annotate_webhook=hook),
        ontology_hash=ontology["ontology_hash"],
    )
    return project["project_hash"], api.tasks(project["project_hash"]), units


def polygon(points: list[tuple[float, float]], object_hash: str = "Vb0+e4Lt") -> Json:
    return {
        "objectHash": object_hash,
        "featureHash": SIGN,
        "polygon": {str(i): {"x": x, "y": y} for i, (x, y) in enumerate(points)},
    }
