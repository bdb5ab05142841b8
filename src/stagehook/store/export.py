"""A project's labels as a stream of JSON text, read a page at a time.

Each page is its own short read (keyset on the task's ``seq``), so exporting 100k tasks
holds one page in memory and never one long transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from stagehook.errors import InvalidInput
from stagehook.labeling import coco
from stagehook.labeling.ontology import Index
from stagehook.labeling.rows import encord_row
from stagehook.store.context import Store
from stagehook.store.labels import UNIT_COLUMNS, UNITS_JOIN, unit_info
from stagehook.store.ontologies import project_index
from stagehook.store.projects_read import project_row
from stagehook.store.tables import data_units, label_rows, tasks

Format = Literal["encord", "coco"]
PAGE = 500


@dataclass(frozen=True)
class Filter:
    project_hash: str
    stage_uuid: str | None = None
    status: str | None = None


def _pages(store: Store, where: Filter, *, labels: bool = True) -> Iterator[Sequence[Any]]:
    """Pages of tasks with their data units (and label JSON, unless ``labels`` is False:
    decoding it is most of an export's time)."""
    after = 0
    columns = [tasks.c.seq, label_rows.c.label_hash, label_rows.c.updated_at, *UNIT_COLUMNS]
    if labels:
        columns.append(label_rows.c.labels)
    query = (
        select(*columns)
        .select_from(
            tasks.join(label_rows, label_rows.c.label_hash == tasks.c.label_hash).join(
                UNITS_JOIN, data_units.c.data_hash == tasks.c.data_hash
            )
        )
        .where(tasks.c.project_hash == where.project_hash)
        .order_by(tasks.c.seq)
        .limit(PAGE)
    )
    if where.stage_uuid:
        query = query.where(tasks.c.stage_uuid == where.stage_uuid)
    if where.status:
        query = query.where(tasks.c.status == where.status)
    while True:
        with store.db.read() as conn:
            rows = conn.execute(query.where(tasks.c.seq > after)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].seq


def project_ontology(store: Store, project_hash: str) -> Index:
    with store.db.read() as conn:
        project_row(conn, project_hash)
        index = project_index(conn, project_hash)
    if index is None:
        raise InvalidInput(
            "this project has no ontology, so its labels are free-form JSON: "
            "export works on projects created with an ontology_hash"
        )
    return index


def encord_export(store: Store, where: Filter, base_url: str) -> Iterator[bytes]:
    """A JSON array of Encord label rows (the SDK's ``LabelRowV2`` dicts)."""
    yield b"["
    first = True
    for page in _pages(store, where):
        parts = []
        for r in page:
            row = encord_row(
                r.label_hash, r.labels, unit_info(r, base_url), r.created_at, r.updated_at
            )
            parts.append(("\n" if first else ",\n") + json.dumps(row))
            first = False
        yield "".join(parts).encode()
    yield b"\n]\n"


def coco_export(store: Store, where: Filter, index: Index, base_url: str) -> Iterator[bytes]:
    """COCO JSON: images in one pass over the tasks, annotations in a second."""
    head = {
        "info": {"description": f"stagehook project {where.project_hash}", "version": "1.0"},
        "licenses": [],
        "categories": coco.categories(index),
    }
    yield json.dumps(head)[:-1].encode() + b', "images": ['
    sep = ""
    for page in _pages(store, where, labels=False):
        parts = []
        for r in page:
            parts.append(sep + json.dumps(coco.image(r.seq, unit_info(r, base_url))))
            sep = ", "
        yield "".join(parts).encode()
    yield b'], "annotations": ['
    next_id = 1
    sep = ""
    for page in _pages(store, where):
        parts = []
        for r in page:
            for annotation in coco.object_annotations(
                r.labels, unit_info(r, base_url), r.seq, index, next_id
            ):
                parts.append(sep + json.dumps(annotation))
                sep = ", "
                next_id += 1
        if parts:
            yield "".join(parts).encode()
    yield b"]}\n"
