"""Encord's ontology JSON: its model, completion (ids, hashes) and an index by feature hash.

Pure: the store persists what ``complete`` returns; validation and export read ``Index``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stagehook.errors import InvalidInput

Shape = Literal["bounding_box", "polygon", "point"]
AttributeType = Literal["radio", "checklist", "text", "numeric"]


class _Element(BaseModel):
    # Encord fields we do not use (``level``, ``dynamic`` ...) pass through untouched.
    model_config = ConfigDict(extra="allow")


#: Encord reads every id part with ``int()``: "1" for objects, "1.2.1" below them.
_ID = r"^[0-9]{1,9}$"
_DOTTED_ID = r"^[0-9]{1,9}(\.[0-9]{1,9}){0,20}$"


class Option(_Element):
    id: str | None = Field(default=None, pattern=_DOTTED_ID)
    label: str = Field(min_length=1, max_length=200)
    value: str | None = Field(default=None, max_length=200)
    featureNodeHash: str | None = Field(default=None, min_length=1, max_length=100)
    archived: bool = False
    #: Radio options only: attributes asked when this option is chosen.
    options: list[Attribute] = Field(default_factory=list, max_length=100)


class Attribute(_Element):
    id: str | None = Field(default=None, pattern=_DOTTED_ID)
    name: str = Field(min_length=1, max_length=200)
    type: AttributeType
    featureNodeHash: str | None = Field(default=None, min_length=1, max_length=100)
    required: bool = False
    dynamic: bool = False
    archived: bool = False
    options: list[Option] = Field(default_factory=list, max_length=500)


class OntologyObject(_Element):
    id: str | None = Field(default=None, pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    color: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$")
    shape: Shape
    featureNodeHash: str | None = Field(default=None, min_length=1, max_length=100)
    required: bool = False
    archived: bool = False
    attributes: list[Attribute] = Field(default_factory=list, max_length=100)


class Classification(_Element):
    id: str | None = Field(default=None, pattern=_ID)
    featureNodeHash: str | None = Field(default=None, min_length=1, max_length=100)
    #: Exactly one root attribute: its name is the classification's title.
    attributes: list[Attribute] = Field(min_length=1, max_length=1)


class Structure(_Element):
    objects: list[OntologyObject] = Field(default_factory=list, max_length=1000)
    classifications: list[Classification] = Field(default_factory=list, max_length=1000)
    skeleton_templates: list[Any] = Field(default_factory=list)


def snake(name: str) -> str:
    """Encord's machine value: lower-cased, each whitespace character an underscore."""
    return re.sub(r"\s", "_", name.lower())


def _new_hash() -> str:
    return secrets.token_hex(4)


def _next_id(taken: list[str | None]) -> Iterator[str]:
    numbers = [int(t) for t in taken if t is not None and t.isdigit()]
    n = max(numbers, default=0)
    while True:
        n += 1
        yield str(n)


def _complete_attributes(attributes: list[Attribute], parent_id: str) -> None:
    for i, attribute in enumerate(attributes, start=1):
        attribute.id = attribute.id or f"{parent_id}.{i}"
        attribute.featureNodeHash = attribute.featureNodeHash or _new_hash()
        if attribute.type in ("text", "numeric") and attribute.options:
            raise InvalidInput(f"attribute {attribute.name!r} is {attribute.type}: no options")
        if attribute.type in ("radio", "checklist") and not attribute.options:
            raise InvalidInput(f"{attribute.type} attribute {attribute.name!r} needs options")
        for j, option in enumerate(attribute.options, start=1):
            option.id = option.id or f"{attribute.id}.{j}"
            option.value = option.value or snake(option.label)
            option.featureNodeHash = option.featureNodeHash or _new_hash()
            if option.options and attribute.type != "radio":
                raise InvalidInput(
                    f"option {option.label!r}: only radio options can nest attributes"
                )
            _complete_attributes(option.options, option.id)


def complete(structure: Structure) -> Structure:
    """Give every element an id and a ``featureNodeHash`` it lacks; check hashes are unique."""
    done = structure.model_copy(deep=True)
    ids = _next_id([o.id for o in done.objects])
    for obj in done.objects:
        obj.id = obj.id or next(ids)
        obj.featureNodeHash = obj.featureNodeHash or _new_hash()
        _complete_attributes(obj.attributes, obj.id)
    ids = _next_id([c.id for c in done.classifications])
    for cls in done.classifications:
        cls.id = cls.id or next(ids)
        cls.featureNodeHash = cls.featureNodeHash or _new_hash()
        _complete_attributes(cls.attributes, cls.id)
    seen: set[str] = set()
    for feature_hash in Index(done).hashes:
        if feature_hash in seen:
            raise InvalidInput(f"featureNodeHash {feature_hash!r} is used twice in the ontology")
        seen.add(feature_hash)
    for kind, ids_of in (("objects", done.objects), ("classifications", done.classifications)):
        given = [element.id for element in ids_of]
        if len(set(given)) != len(given):
            raise InvalidInput(f"two {kind} have the same id")
    return done


def to_json(structure: Structure) -> dict[str, Any]:
    return structure.model_dump(mode="json")


NodeKind = Literal["object", "classification", "attribute", "option"]


@dataclass
class Node:
    """One element of the tree, found by its hash; ``owner`` is its object/classification."""

    kind: NodeKind
    hash: str
    name: str
    owner: str
    element: Any
    #: For an attribute: the hashes of its options; for an option: its attribute's hash.
    parent: str | None = None
    children: list[str] = field(default_factory=list)


class Index:
    """Every element by ``featureNodeHash`` (unique across the ontology, as in Encord)."""

    def __init__(self, structure: Structure) -> None:
        self.structure = structure
        self.nodes: dict[str, Node] = {}
        self.hashes: list[str] = []
        for obj in structure.objects:
            self._add(Node("object", obj.featureNodeHash or "", obj.name, "", obj))
            self._attributes(obj.attributes, obj.featureNodeHash or "")
        #: Root attributes of the classifications a submit must answer (live ones only).
        self.required: list[Attribute] = []
        for cls in structure.classifications:
            root = cls.attributes[0]
            self._add(Node("classification", cls.featureNodeHash or "", root.name, "", cls))
            self._attributes(cls.attributes, cls.featureNodeHash or "")
            if root.required and not root.archived:
                self.required.append(root)

    def _add(self, node: Node) -> None:
        # A duplicate hash keeps its first node; ``complete`` refuses duplicates anyway.
        self.hashes.append(node.hash)
        self.nodes.setdefault(node.hash, node)

    def _attributes(self, attributes: list[Attribute], owner: str) -> None:
        for attribute in attributes:
            a_hash = attribute.featureNodeHash or ""
            node = Node("attribute", a_hash, attribute.name, owner, attribute)
            self._add(node)
            for option in attribute.options:
                o_hash = option.featureNodeHash or ""
                node.children.append(o_hash)
                self._add(Node("option", o_hash, option.label, owner, option, parent=a_hash))
                self._attributes(option.options, owner)

    def attributes_of(self, owner: str) -> dict[str, Attribute]:
        """Every attribute (nested ones too) under one object or classification."""
        return {
            h: n.element
            for h, n in self.nodes.items()
            if n.kind == "attribute" and n.owner == owner
        }

    def get(self, feature_hash: object, kind: NodeKind) -> Node | None:
        node = self.nodes.get(feature_hash) if isinstance(feature_hash, str) else None
        return node if node is not None and node.kind == kind else None


def removed(old: Structure, new: Structure) -> dict[str, str]:
    """Elements of ``old`` that ``new`` drops: hash → display name."""
    before, after = Index(old).nodes, Index(new).nodes
    return {h: n.name for h, n in before.items() if h not in after}


def changed_kinds(old: Structure, new: Structure) -> list[str]:
    """Elements whose meaning changed under the same hash (a shape or attribute type)."""
    problems = []
    after = Index(new).nodes
    for h, node in Index(old).nodes.items():
        other = after.get(h)
        if other is None:
            continue
        if other.kind != node.kind:
            problems.append(f"{node.name!r} ({h}) changed from {node.kind} to {other.kind}")
        elif node.kind == "object" and other.element.shape != node.element.shape:
            problems.append(f"object {node.name!r} ({h}) changed shape")
        elif node.kind == "attribute" and other.element.type != node.element.type:
            problems.append(f"attribute {node.name!r} ({h}) changed type")
    return problems


Option.model_rebuild()
