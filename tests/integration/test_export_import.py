"""Export (Encord, COCO) and the import/export commands, against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stagehook.client import ApiError
from tests.support.api import ADMIN_KEY, Api
from tests.support.labeling import (
    CAR,
    HEAD,
    SIGN,
    box,
    image_bytes,
    labeling_project,
    polygon,
    row,
)
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow

Json = dict[str, Any]


def labelled(api: Api) -> tuple[str, list[Json], list[Json]]:
    """Two 200x100 images: the first with a box, a polygon and a point; the second empty."""
    project_hash, tasks, units = labeling_project(api, 2)
    head = {"objectHash": "p1", "featureHash": HEAD, "point": {"0": {"x": 0.5, "y": 0.25}}}
    objects = [box(x=0.1, y=0.2, w=0.3, h=0.4), polygon([(0.1, 0.1), (0.5, 0.1), (0.5, 0.5)]), head]
    api.put_label_row(project_hash, tasks[0]["label_hash"], row(units[0]["data_hash"], objects), 0)
    return project_hash, tasks, units


def export(api: Api, project_hash: str, **params: str) -> Any:
    return json.loads(b"".join(api.export(project_hash, **params)))  # type: ignore[arg-type]


def test_coco_export_has_categories_images_boxes_polygons_points(api: Api) -> None:
    project_hash, _, _ = labelled(api)
    coco = export(api, project_hash, format="coco")
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [
        (1, "Car"),
        (2, "Road Sign"),
        (3, "Pedestrian Head"),
    ]
    assert [(i["file_name"], i["width"], i["height"]) for i in coco["images"]] == [
        ("img0.png", 200, 100),
        ("img1.png", 200, 100),
    ]
    first_image = coco["images"][0]["id"]
    car, sign, head = coco["annotations"]
    assert car["image_id"] == first_image and car["category_id"] == 1
    assert car["bbox"] == pytest.approx([20, 20, 60, 40])
    assert car["attributes"]["feature_hash"] == CAR
    assert sign["segmentation"] == [pytest.approx([20, 10, 100, 10, 100, 50])]
    assert sign["bbox"] == pytest.approx([20, 10, 80, 40]) and sign["area"] == pytest.approx(1600)
    assert sign["attributes"]["feature_hash"] == SIGN
    assert head["keypoints"] == pytest.approx([100, 25, 2])
    assert len({a["id"] for a in coco["annotations"]}) == 3


def test_encord_export_rows_and_filters(api: Api) -> None:
    project_hash, tasks, units = labelled(api)
    rows = export(api, project_hash, format="encord")
    assert [r["label_hash"] for r in rows] == [t["label_hash"] for t in tasks]
    unit = rows[0]["data_units"][units[0]["data_hash"]]
    assert unit["labels"]["objects"][0]["boundingBox"] == {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}
    assert unit["data_link"].endswith(f"/api/v1/data-units/{units[0]['data_hash']}/content")
    assert unit["data_link"].startswith("http://127.0.0.1:")
    api.act(project_hash, ANNOTATE, [{"task_uuid": tasks[0]["task_uuid"], "action": "SUBMIT"}])
    in_review = export(api, project_hash, format="encord", stage_uuid=REVIEW)
    assert [r["label_hash"] for r in in_review] == [tasks[0]["label_hash"]]
    assert export(api, project_hash, format="coco", status="COMPLETED")["images"] == []


def test_export_needs_an_ontology_and_a_known_format(api: Api) -> None:
    dataset, _ = api.dataset_with_units(1)
    project = api.create_project("free", [dataset], workflow=basic_workflow())
    with pytest.raises(ApiError) as err:
        export(api, project["project_hash"], format="coco")
    assert err.value.status == 422 and "no ontology" in err.value.message
    project_hash, _, _ = labelled(api)
    with pytest.raises(ApiError) as err:
        export(api, project_hash, format="yolo")
    assert err.value.status == 422


def cli(base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STAGEHOOK_URL": base_url, "STAGEHOOK_API_KEY": ADMIN_KEY}
    return subprocess.run(
        [sys.executable, "-m", "stagehook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_folder_then_rerun_skips_everything(
    api: Api, server: tuple[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i in range(7):
        fmt, ext = [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")][i % 3]
        target = folder / ("sub" if i % 2 else "") / f"im{i}.{ext}"
        target.write_bytes(image_bytes(fmt, (32, 24), seed=i))
    (folder / "notes.txt").write_text("not an image")
    dataset = api.create_dataset("imported")["dataset_hash"]

    first = cli(server[0], "import", str(folder), "--dataset", dataset)
    assert first.returncode == 0, first.stderr
    assert "uploaded 7, skipped 0" in first.stdout
    units = list(api.iter_data_units(dataset))
    assert sorted(u["title"] for u in units) == sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("im*")
    )
    (folder / "im99.gif").write_bytes(image_bytes("GIF", (8, 8), seed=99))
    second = cli(server[0], "import", str(folder), "--dataset", dataset)
    assert second.returncode == 0, second.stderr
    assert "uploaded 1, skipped 7" in second.stdout
    third = cli(server[0], "import", str(folder), "--dataset", dataset)
    assert "uploaded 0, skipped 8" in third.stdout
    assert len(list(api.iter_data_units(dataset))) == 8


def test_import_names_a_broken_file_and_keeps_the_rest(
    api: Api, server: tuple[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "good.png").write_bytes(image_bytes())
    (tmp_path / "bad.png").write_bytes(image_bytes("PNG", (300, 300), seed=5)[:100])
    dataset = api.create_dataset("imported")["dataset_hash"]
    result = cli(server[0], "import", str(tmp_path), "--dataset", dataset)
    assert result.returncode == 1
    assert "failed: bad.png" in result.stderr and "uploaded 1" in result.stdout
    assert [u["title"] for u in api.iter_data_units(dataset)] == ["good.png"]


def test_commands_report_refusals_in_one_line(server: tuple[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = cli(server[0], "import", str(out), "--dataset", "nope")
    assert result.returncode == 1 and "404 not_found: dataset nope does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli(server[0], "export", "nope", "-o", str(out / "x.json"))
    assert result.returncode == 1 and "404" in result.stderr
    assert list(out.iterdir()) == []


def test_export_command_writes_the_file(api: Api, server: tuple[str, Any], tmp_path: Path) -> None:
    project_hash, _, _ = labelled(api)
    out = tmp_path / "coco.json"
    result = cli(server[0], "export", project_hash, "--format", "coco", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert len(json.loads(out.read_text())["annotations"]) == 3
