"""What the in-browser workflow editor (static/editor.js) is given, on every page using it.

The graph is edited in the browser and nothing is stored until the person saves; then
the whole workflow goes through the same ``put_workflow`` / ``create_template`` /
``create_project`` calls the REST API uses, so every rule and every message comes from
the store and the workflow domain.
"""

from __future__ import annotations

from typing import Any

from stagehook.store.context import new_hash

Json = dict[str, Any]


def starter_workflow() -> Json:
    """Start -> Annotate -> Complete: the smallest graph that carries tasks."""
    start, annotate, complete = new_hash(), new_hash(), new_hash()
    return {
        "stages": [
            {
                "uuid": start,
                "title": "Start",
                "stage_type": "START",
                "pathways": [{"name": "next", "destination_uuid": annotate}],
            },
            {
                "uuid": annotate,
                "title": "Annotate",
                "stage_type": "ANNOTATE",
                "pathways": [{"name": "submit", "destination_uuid": complete}],
            },
            {"uuid": complete, "title": "Complete", "stage_type": "COMPLETE", "pathways": []},
        ]
    }


def editor_config(
    mode: str,
    workflow: Json,
    *,
    editable: bool,
    project_hash: str | None = None,
    template_hash: str | None = None,
    choices: list[Json] | None = None,
) -> Json:
    """What editor.js needs; ``saved`` names the webhooks that exist on the server."""
    saved = (
        {s["uuid"]: s["webhook"]["url"] for s in workflow["stages"] if s.get("webhook")}
        if mode == "project"
        else {}
    )
    return {
        "mode": mode,
        "workflow": workflow,
        "editable": editable,
        "project_hash": project_hash,
        "template_hash": template_hash,
        "saved": saved,
        "choices": choices or [],
    }
