"""Request and response models of the labeling routes (ontologies, media, export)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stagehook.labeling.ontology import Structure


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OntologyIn(_In):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=2000)
    structure: Structure


class ProjectRef(BaseModel):
    project_hash: str
    title: str


class OntologyPublic(BaseModel):
    ontology_hash: str
    title: str
    description: str
    structure: dict[str, Any]
    created_at: float
    last_edited_at: float
    #: Projects labeling with this ontology (on single reads, create and update).
    projects: list[ProjectRef] | None = None


class OntologyPage(BaseModel):
    ontologies: list[OntologyPublic]
    next_cursor: str | None


class UploadedUnit(BaseModel):
    data_hash: str
    title: str
    mime_type: str
    width: int
    height: int
    sha256: str
    size_bytes: int


class UploadedUnits(BaseModel):
    data_units: list[UploadedUnit]
