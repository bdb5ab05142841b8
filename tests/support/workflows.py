"""Workflow JSON builders shared by every test suite (unit, integration, e2e).

They return the workflow JSON the API takes (plain dicts), so API tests can post them as is and
unit tests can ``Workflow.model_validate`` them. Stage uuids are fixed UUID strings so a
test can name a stage without looking it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

START = "00000000-0000-4000-8000-000000000001"
ANNOTATE = "00000000-0000-4000-8000-000000000002"
REVIEW = "00000000-0000-4000-8000-000000000003"
COMPLETE = "00000000-0000-4000-8000-000000000004"
ROUTER = "00000000-0000-4000-8000-000000000005"
ARCHIVE = "00000000-0000-4000-8000-000000000006"

Json = dict[str, Any]


def stage(
    uuid: str,
    title: str,
    stage_type: str,
    pathways: Sequence[Json] = (),
    webhook: str | None = None,
) -> Json:
    out: Json = {
        "uuid": uuid,
        "title": title,
        "stage_type": stage_type,
        "pathways": list(pathways),
    }
    if webhook is not None:
        out["webhook"] = {"url": webhook}
    return out


def pathway(name: str, destination_uuid: str, percentage: int | None = None) -> Json:
    out: Json = {"name": name, "destination_uuid": destination_uuid}
    if percentage is not None:
        out["percentage"] = percentage
    return out


def _start() -> Json:
    return stage(START, "Start", "START", [pathway("next", ANNOTATE)])


def _review() -> Json:
    return stage(
        REVIEW,
        "Review",
        "REVIEW",
        [pathway("approve", COMPLETE), pathway("reject", ANNOTATE)],
    )


def _complete(webhook: str | None) -> Json:
    return stage(COMPLETE, "Complete", "COMPLETE", webhook=webhook)


def basic_workflow(
    annotate_webhook: str | None = None, complete_webhook: str | None = None
) -> Json:
    """START -> Annotate -submit-> Review -approve-> Complete; Review -reject-> Annotate."""
    return {
        "stages": [
            _start(),
            stage(ANNOTATE, "Annotate", "ANNOTATE", [pathway("submit", REVIEW)], annotate_webhook),
            _review(),
            _complete(complete_webhook),
        ]
    }


def router_workflow(
    percentages: Sequence[int] | None = None,
    *,
    archive: bool = False,
    annotate_webhook: str | None = None,
    complete_webhook: str | None = None,
) -> Json:
    """Annotate -submit-> Router, which sends a task to Review or straight to Complete.

    With ``archive`` the router has a third branch to an ARCHIVE stage. ``percentages``
    are the branch shares in the order review, complete[, archive]; defaults 50/50 and
    50/25/25.
    """
    if percentages is None:
        percentages = (50, 25, 25) if archive else (50, 50)
    destinations = [("review", REVIEW), ("complete", COMPLETE)]
    if archive:
        destinations.append(("archive", ARCHIVE))
    if len(percentages) != len(destinations):
        raise ValueError(f"expected {len(destinations)} percentages, got {len(percentages)}")
    branches = [
        pathway(name, dest, share)
        for (name, dest), share in zip(destinations, percentages, strict=True)
    ]
    stages = [
        _start(),
        stage(ANNOTATE, "Annotate", "ANNOTATE", [pathway("submit", ROUTER)], annotate_webhook),
        stage(ROUTER, "Sample for review", "PERCENTAGE_ROUTER", branches),
        _review(),
        _complete(complete_webhook),
    ]
    if archive:
        stages.append(stage(ARCHIVE, "Archive", "ARCHIVE"))
    return {"stages": stages}


def submit_to_complete_workflow(
    annotate_webhook: str | None = None, complete_webhook: str | None = None
) -> Json:
    """START -> Annotate -submit-> Complete: one submit fires both events."""
    return {
        "stages": [
            _start(),
            stage(
                ANNOTATE, "Annotate", "ANNOTATE", [pathway("submit", COMPLETE)], annotate_webhook
            ),
            _complete(complete_webhook),
        ]
    }
