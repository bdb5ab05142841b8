"""The vocabulary of workflows: stage types, pathways, statuses and actions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class StageType(StrEnum):
    START = "START"
    ANNOTATE = "ANNOTATE"
    REVIEW = "REVIEW"
    PERCENTAGE_ROUTER = "PERCENTAGE_ROUTER"
    COMPLETE = "COMPLETE"
    ARCHIVE = "ARCHIVE"


class TaskStatus(StrEnum):
    NEW = "NEW"
    ASSIGNED = "ASSIGNED"
    RELEASED = "RELEASED"
    SKIPPED = "SKIPPED"
    REOPENED = "REOPENED"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.ARCHIVED})


class Action(StrEnum):
    SUBMIT = "SUBMIT"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    ASSIGN = "ASSIGN"
    RELEASE = "RELEASE"
    SKIP = "SKIP"


#: Pathway names each stage type must carry (routers name their branches freely).
REQUIRED_PATHWAYS: dict[StageType, frozenset[str]] = {
    StageType.START: frozenset({"next"}),
    StageType.ANNOTATE: frozenset({"submit"}),
    StageType.REVIEW: frozenset({"approve", "reject"}),
    StageType.COMPLETE: frozenset(),
    StageType.ARCHIVE: frozenset(),
}

WEBHOOK_STAGE_TYPES = frozenset({StageType.ANNOTATE, StageType.COMPLETE})
WORK_STAGE_TYPES = frozenset({StageType.ANNOTATE, StageType.REVIEW})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _unset(value: object) -> bool:
    return value is None


class WebhookSpec(_Frozen):
    url: str = Field(min_length=1, max_length=2048)


class Pathway(_Frozen):
    name: str = Field(min_length=1, max_length=200)
    destination_uuid: str = Field(min_length=1, max_length=64)
    #: Only router branches carry one; the JSON leaves it out elsewhere.
    percentage: StrictInt | None = Field(default=None, ge=0, le=100, exclude_if=_unset)


class Stage(_Frozen):
    uuid: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    stage_type: StageType
    pathways: tuple[Pathway, ...] = ()
    #: Only stages with a webhook carry one; the JSON leaves it out elsewhere.
    webhook: WebhookSpec | None = Field(default=None, exclude_if=_unset)

    def pathway(self, name: str) -> Pathway | None:
        return next((p for p in self.pathways if p.name == name), None)


class Workflow(_Frozen):
    stages: tuple[Stage, ...] = Field(min_length=1, max_length=500)

    def stage(self, uuid: str) -> Stage | None:
        return next((s for s in self.stages if s.uuid == uuid), None)

    def of_type(self, stage_type: StageType) -> list[Stage]:
        return [s for s in self.stages if s.stage_type == stage_type]

    def with_webhooks(self, urls: dict[str, str]) -> Workflow:
        """The same graph with ``webhook`` set exactly where ``urls`` names a stage."""
        stages = tuple(
            s.model_copy(
                update={"webhook": WebhookSpec(url=urls[s.uuid]) if s.uuid in urls else None}
            )
            for s in self.stages
        )
        return Workflow(stages=stages)
