"""Request bodies (Create/Update) kept apart from what responses expose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stagehook.store.users import Role
from stagehook.workflow.stages import Action, Workflow


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetCreate(_In):
    title: str = Field(min_length=1, max_length=500)


class DataUnitIn(_In):
    title: str = Field(min_length=1, max_length=1000)
    uri: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] | None = None


class DataUnitsCreate(_In):
    items: list[DataUnitIn] = Field(min_length=1, max_length=10_000)


class TemplateCreate(_In):
    title: str = Field(min_length=1, max_length=500)
    workflow: Workflow


class ProjectCreate(_In):
    title: str = Field(min_length=1, max_length=500)
    dataset_hashes: list[str] = Field(default_factory=list, max_length=1000)
    workflow: Workflow | None = None
    workflow_template_hash: str | None = None


class SaveAsTemplate(_In):
    title: str = Field(min_length=1, max_length=500)


class WebhookPut(_In):
    url: str = Field(min_length=1, max_length=2048)


class ActionIn(_In):
    task_uuid: str = Field(min_length=1, max_length=64)
    action: Action
    assignee: str | None = Field(default=None, max_length=200)


class ActionsIn(_In):
    actions: list[ActionIn] = Field(min_length=1, max_length=1000)


class MoveIn(_In):
    stage_uuid: str = Field(min_length=1, max_length=64)


class LabelRowPut(_In):
    labels: dict[str, Any]
    version: int = Field(ge=0, le=2**31 - 1)


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=200)
    is_admin: bool = False
    password: str | None = Field(default=None, min_length=8, max_length=200)


class ApiKeyCreate(_In):
    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="api", min_length=1, max_length=200)


class MembershipPut(_In):
    user_id: str = Field(min_length=1, max_length=64)
    role: Role


class UserPublic(BaseModel):
    user_id: str
    username: str
    is_admin: bool
