"""Sniffing image types from bytes, and COCO geometry from normalised Encord shapes."""

from __future__ import annotations

import pytest

from stagehook.labeling.coco import categories, object_annotations
from stagehook.labeling.ontology import Index, Structure, complete
from stagehook.labeling.rows import UnitInfo
from stagehook.media.sniff import sniff
from tests.support.labeling import HEAD, SIGN, box, image_bytes, ontology_structure, row


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_sniff_reads_the_magic_bytes(fmt: str, mime: str) -> None:
    assert sniff(image_bytes(fmt)[:12]) == mime


@pytest.mark.parametrize(
    "head", [b"", b"<svg xmlns=", b"RIFF\x00\x00\x00\x00WAVE", b"\x89PNG\r\n", b"BM6\x00"]
)
def test_sniff_refuses_everything_else(head: bytes) -> None:
    assert sniff(head) is None


def unit(width: int | None = 200, height: int | None = 100) -> UnitInfo:
    return UnitInfo("d", "a.png", "ds", "set", "/x", "image/png", width, height)


def test_coco_pixels_from_normalised_shapes() -> None:
    index = Index(complete(Structure.model_validate(ontology_structure())))
    assert [c["id"] for c in categories(index)] == [1, 2, 3]
    assert categories(index)[2]["keypoints"] == ["Pedestrian Head"]
    objects = [
        {**box(x=0.5, y=0.5, w=0.25, h=0.5), "shape": "bounding_box"},
        {
            "objectHash": "s",
            "featureHash": SIGN,
            "shape": "polygon",
            "polygons": [[[0, 0, 1, 0, 1, 1]]],
        },
        {
            "objectHash": "h",
            "featureHash": HEAD,
            "shape": "point",
            "point": {"0": {"x": 0.1, "y": 0.2}},
        },
    ]
    car, sign, head = object_annotations(row("d", objects), unit(), 7, index, 40)
    assert (car["id"], car["image_id"], car["bbox"], car["area"]) == (
        40,
        7,
        [100, 50, 50, 50],
        2500,
    )
    assert sign["segmentation"] == [[0, 0, 200, 0, 200, 100]] and sign["area"] == 10000
    assert head["keypoints"] == pytest.approx([20, 20, 2])
    assert list(object_annotations(row("d", objects), unit(None, None), 7, index, 1)) == []
