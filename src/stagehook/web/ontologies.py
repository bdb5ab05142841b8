"""Ontology pages: list, create, add objects and classifications, see who uses them.

Plain forms over the same store calls as ``/api/v1/ontologies``: every addition goes
through ``update_ontology``, which gives new elements their ids and feature hashes and
refuses changes that would break labels.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request, Response

from stagehook.errors import InvalidInput, NotFound, StagehookError
from stagehook.labeling.ontology import Structure
from stagehook.store import ontologies
from stagehook.web.common import StoreDep, WebUser, back, flash, render, validated, web_router

router = web_router()

Text = Annotated[str, Form(max_length=200)]
SHAPES = [("bounding_box", "Box"), ("polygon", "Polygon"), ("point", "Point")]
ATTRIBUTE_TYPES = [
    ("radio", "Radio (one of)"),
    ("checklist", "Checklist (any of)"),
    ("text", "Text"),
]
#: Colours offered for the next object (Encord's default palette starts the same way).
PALETTE = ["#D33115", "#E27300", "#16406C", "#0B6E4F", "#9333EA", "#FCC400", "#68BC00", "#AB149E"]


def attribute(name: str, kind: str, options: str, required: bool) -> dict[str, Any]:
    """A radio / checklist / text attribute from a form: options one per line or comma."""
    labels = [o.strip() for line in options.splitlines() for o in line.split(",") if o.strip()]
    if not name.strip():
        raise InvalidInput("give it a name")
    if kind not in {k for k, _ in ATTRIBUTE_TYPES}:
        raise InvalidInput(f"unknown type {kind!r}")
    built: dict[str, Any] = {"name": name.strip(), "type": kind, "required": required}
    if kind != "text":
        if not labels:
            raise InvalidInput(f"a {kind} needs options, one per line")
        built["options"] = [{"label": label} for label in labels]
    return built


@router.get("/ontologies")
def list_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    page, _ = ontologies.list_ontologies(store, 200, None)
    return render(request, "ontologies.html", ontologies=page)


@router.post("/ontologies")
def create(request: Request, store: StoreDep, user: WebUser, title: Text = "") -> Response:
    if not title.strip():
        flash(request, "give the ontology a title", "error")
        return back("/ontologies")
    created = ontologies.create_ontology(store, user, title.strip(), "", Structure())
    flash(request, f"Ontology {created['title']} created. Add what annotators label.")
    return back(f"/ontologies/{created['ontology_hash']}")


@router.get("/ontologies/{ontology_hash}")
def detail(request: Request, ontology_hash: str, store: StoreDep, user: WebUser) -> Response:
    ontology = ontologies.get_ontology(store, ontology_hash)
    used = len(ontology["structure"].get("objects", []))
    return render(
        request,
        "ontology.html",
        ontology=ontology,
        shapes=SHAPES,
        attribute_types=ATTRIBUTE_TYPES,
        next_color=PALETTE[used % len(PALETTE)],
    )


def _change(
    request: Request, store: StoreDep, user: WebUser, ontology_hash: str, edit: Any, done: str
) -> Response:
    """Apply ``edit`` to the stored structure and save it; errors come back as a flash."""
    try:
        current = ontologies.get_ontology(store, ontology_hash)
        structure = dict(current["structure"])
        edit(structure)
        ontologies.update_ontology(
            store,
            user,
            ontology_hash,
            current["title"],
            current["description"],
            validated(Structure, structure),
        )
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, done)
    return back(f"/ontologies/{ontology_hash}")


@router.post("/ontologies/{ontology_hash}/objects")
def add_object(
    request: Request,
    ontology_hash: str,
    store: StoreDep,
    user: WebUser,
    name: Text = "",
    shape: Text = "bounding_box",
    color: Annotated[str, Form(max_length=7)] = "#D33115",
) -> Response:
    def edit(structure: dict[str, Any]) -> None:
        if not name.strip():
            raise InvalidInput("give the object a name")
        item = {"name": name.strip(), "shape": shape, "color": color.upper()}
        structure["objects"] = [*structure.get("objects", []), item]

    return _change(request, store, user, ontology_hash, edit, f"Object {name.strip()} added.")


@router.post("/ontologies/{ontology_hash}/classifications")
def add_classification(
    request: Request,
    ontology_hash: str,
    store: StoreDep,
    user: WebUser,
    name: Text = "",
    kind: Text = "radio",
    options: Annotated[str, Form(max_length=20_000)] = "",
    required: Annotated[bool, Form()] = False,
) -> Response:
    def edit(structure: dict[str, Any]) -> None:
        root = attribute(name, kind, options, required)
        item = {"attributes": [root]}
        structure["classifications"] = [*structure.get("classifications", []), item]

    return _change(
        request, store, user, ontology_hash, edit, f"Classification {name.strip()} added."
    )


@router.post("/ontologies/{ontology_hash}/objects/{feature_hash}/attributes")
def add_attribute(
    request: Request,
    ontology_hash: str,
    feature_hash: str,
    store: StoreDep,
    user: WebUser,
    name: Text = "",
    kind: Text = "radio",
    options: Annotated[str, Form(max_length=20_000)] = "",
    required: Annotated[bool, Form()] = False,
) -> Response:
    def edit(structure: dict[str, Any]) -> None:
        objects = [dict(o) for o in structure.get("objects", [])]
        target = next((o for o in objects if o.get("featureNodeHash") == feature_hash), None)
        if target is None:
            raise NotFound(f"object {feature_hash} is not in this ontology")
        target["attributes"] = [
            *target.get("attributes", []),
            attribute(name, kind, options, required),
        ]
        structure["objects"] = objects

    return _change(request, store, user, ontology_hash, edit, f"Attribute {name.strip()} added.")
