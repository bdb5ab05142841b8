"""Workflows and ontologies are parsed once per stored text (store/parsed.py), yet a change
made anywhere (here: plain SQL, as another process or release would) holds on the very next
request: the cache is keyed by the stored text, so there is nothing to invalidate."""

from __future__ import annotations

import json

from sqlalchemy import update

from stagehook.store.context import Store
from stagehook.store.tables import ontologies, projects
from tests.support.api import Api
from tests.support.workflows import ANNOTATE, COMPLETE, REVIEW, basic_workflow, stage

_PATH = "/projects/{}/workflow/stages/{}/actions"


def _submit(api: Api, project_hash: str, task_uuid: str) -> dict[str, object]:
    body = {"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]}
    answer = api.raw("POST", _PATH.format(project_hash, ANNOTATE), json=body)
    return {"status": answer.status_code, **answer.json()}


def test_a_workflow_changed_behind_the_servers_back_is_followed_at_once(
    api: Api, store: Store
) -> None:
    dataset_hash, _ = api.dataset_with_units(2)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    first, second = (t["task_uuid"] for t in api.tasks(project_hash))
    assert _submit(api, project_hash, first)["tasks"][0]["stage_uuid"] == REVIEW  # type: ignore[index]
    graph = basic_workflow()
    graph["stages"][1] = stage(
        ANNOTATE, "Annotate", "ANNOTATE", [{"name": "submit", "destination_uuid": COMPLETE}]
    )
    with store.db.write() as conn:
        conn.execute(
            update(projects).where(projects.c.project_hash == project_hash).values(workflow=graph)
        )
    assert _submit(api, project_hash, second)["tasks"][0]["stage_uuid"] == COMPLETE  # type: ignore[index]


def test_a_classification_made_required_behind_the_servers_back_is_enforced_at_once(
    api: Api, store: Store
) -> None:
    ontology = api.raw(
        "POST",
        "/ontologies",
        json={
            "title": "o",
            "structure": {
                "objects": [],
                "classifications": [
                    {
                        "attributes": [
                            {
                                "type": "radio",
                                "name": "Weather",
                                "required": False,
                                "options": [{"label": "sun"}, {"label": "rain"}],
                            }
                        ]
                    }
                ],
            },
        },
    ).json()
    dataset_hash, _ = api.dataset_with_units(2)
    project_hash = api.raw(
        "POST",
        "/projects",
        json={
            "title": "p",
            "dataset_hashes": [dataset_hash],
            "workflow": basic_workflow(),
            "ontology_hash": ontology["ontology_hash"],
        },
    ).json()["project_hash"]
    first, second = (t["task_uuid"] for t in api.tasks(project_hash))
    assert _submit(api, project_hash, first)["status"] == 200
    structure = ontology["structure"]
    structure["classifications"][0]["attributes"][0]["required"] = True
    with store.db.write() as conn:
        conn.execute(
            update(ontologies)
            .where(ontologies.c.ontology_hash == ontology["ontology_hash"])
            .values(structure=json.loads(json.dumps(structure)))
        )
    refused = _submit(api, project_hash, second)
    assert refused["status"] == 422
    assert "Weather" in json.dumps(refused)
