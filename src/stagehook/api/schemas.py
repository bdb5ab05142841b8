"""Request bodies (Create/Update), kept apart from what responses expose (``public.py``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from stagehook.labeling.ontology import Structure
from stagehook.store.access import Role
from stagehook.workflow.stages import Action, Workflow


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _finite(value: Any) -> Any:
    """JSON documents we store must be valid JSON everywhere: no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not valid JSON numbers")
    if isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    return value


FiniteJson = Annotated[dict[str, Any], AfterValidator(_finite)]


class DatasetCreate(_In):
    title: str = Field(min_length=1, max_length=500)


class DataUnitIn(_In):
    title: str = Field(min_length=1, max_length=1000)
    uri: str | None = Field(default=None, max_length=2048)
    metadata: FiniteJson | None = None
    #: The referenced image's size in pixels, when known (exports need it for pixels).
    width: int | None = Field(default=None, ge=1, le=1_000_000)
    height: int | None = Field(default=None, ge=1, le=1_000_000)


class DataUnitsCreate(_In):
    items: list[DataUnitIn] = Field(min_length=1, max_length=10_000)


class TemplateCreate(_In):
    title: str = Field(min_length=1, max_length=500)
    workflow: Workflow
    ontology_hash: str | None = Field(default=None, max_length=64)


class ProjectCreate(_In):
    title: str = Field(min_length=1, max_length=500)
    dataset_hashes: list[str] = Field(default_factory=list, max_length=1000)
    workflow: Workflow | None = None
    workflow_template_hash: str | None = None
    #: What annotators label; a template's ontology is used when this is absent.
    ontology_hash: str | None = Field(default=None, max_length=64)


class TemplateUpdate(TemplateCreate):
    """``PUT`` replaces the title and the workflow."""


class SaveAsTemplate(_In):
    title: str = Field(min_length=1, max_length=500)
    keep_webhooks: bool = False


class WebhookPut(_In):
    url: str = Field(min_length=1, max_length=2048)


class RecoverIn(_In):
    since: datetime


def epoch(moment: datetime) -> float:
    """Seconds since the epoch; a time without a zone is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ActionIn(_In):
    task_uuid: str = Field(min_length=1, max_length=64)
    action: Action
    assignee: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(
        default=None, max_length=2000, description="why (a reviewer's note), kept in history"
    )


class ActionsIn(_In):
    actions: list[ActionIn] = Field(min_length=1, max_length=1000)


class MoveIn(_In):
    stage_uuid: str = Field(min_length=1, max_length=64)


class LabelRowPut(_In):
    labels: FiniteJson
    version: StrictInt = Field(ge=0, le=2**31 - 1)


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=200)
    is_admin: StrictBool = False
    password: str | None = Field(default=None, min_length=8, max_length=200)


class ApiKeyCreate(_In):
    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="api", min_length=1, max_length=200)


class MembershipPut(_In):
    user_id: str = Field(min_length=1, max_length=64)
    role: Role


class OntologyIn(_In):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=2000)
    structure: Structure
