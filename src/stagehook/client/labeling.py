"""Client operations for labeling: ontologies, image uploads and bytes, export."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from stagehook.client.models import DataUnit, Ontology
from stagehook.client.transport import Transport, raise_for_error

_ONTOLOGY = "/ontologies/{ontology_hash}"


class LabelingApi(Transport):
    # ontologies
    def create_ontology(
        self, title: str, structure: dict[str, Any], *, description: str = ""
    ) -> Ontology:
        """``structure``: ``{"objects": [...], "classifications": [...]}`` (Encord's shape)."""
        body = {"title": title, "description": description, "structure": structure}
        return self.one(Ontology, "POST", "/ontologies", at={}, json=body)

    def iter_ontologies(self, *, page_size: int = 100) -> Iterator[Ontology]:
        return self.pages(Ontology, "/ontologies", "ontologies", {}, limit=page_size)

    def get_ontology(self, ontology_hash: str) -> Ontology:
        return self.one(Ontology, "GET", _ONTOLOGY, at={"ontology_hash": ontology_hash})

    def put_ontology(
        self, ontology_hash: str, title: str, structure: dict[str, Any], *, description: str = ""
    ) -> Ontology:
        """Additions always work; removing an element that labels use answers 409."""
        body = {"title": title, "description": description, "structure": structure}
        return self.one(Ontology, "PUT", _ONTOLOGY, at={"ontology_hash": ontology_hash}, json=body)

    # images
    def upload_images(
        self, dataset_hash: str, files: Sequence[tuple[str, bytes | BinaryIO]]
    ) -> list[DataUnit]:
        """``(file name, bytes or an open binary file)`` each; file objects are streamed."""
        parts = [("files", (name, content)) for name, content in files]
        body = self.call(
            "POST", "/datasets/{dataset_hash}/uploads", {"dataset_hash": dataset_hash}, files=parts
        )
        return [DataUnit.model_validate(unit) for unit in body["data_units"]]

    def data_unit_content(self, data_hash: str) -> bytes:
        """An uploaded image's bytes."""
        path = self.path("/data-units/{data_hash}/content", {"data_hash": data_hash})
        response = self.http.get(path)
        raise_for_error(response)
        return response.content

    # export
    def export(
        self,
        project_hash: str,
        format: str = "encord",
        *,
        stage_uuid: str | None = None,
        status: str | None = None,
    ) -> Iterator[bytes]:
        """The export file (``encord`` or ``coco``), chunk by chunk as the server streams it."""
        params = {"format": format, "stage_uuid": stage_uuid, "status": status}
        query = {k: v for k, v in params.items() if v is not None}
        path = self.path("/projects/{project_hash}/export", {"project_hash": project_hash})
        with self.http.stream("GET", path, params=query) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_error(response)
            yield from response.iter_bytes()
