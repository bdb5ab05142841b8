"""Client operations on projects, their workflow and webhooks, and workflow templates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stagehook.client.models import Project, Webhook, WorkflowTemplate
from stagehook.client.transport import Transport

_WEBHOOK = "/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook"


class WorkflowsApi(Transport):
    # templates
    def create_template(
        self, title: str, workflow: dict[str, Any], *, ontology_hash: str | None = None
    ) -> WorkflowTemplate:
        body = {"title": title, "workflow": workflow, "ontology_hash": ontology_hash}
        return self.one(WorkflowTemplate, "POST", "/workflow-templates", at={}, json=body)

    def iter_templates(self, *, page_size: int = 100) -> Iterator[WorkflowTemplate]:
        route = "/workflow-templates"
        return self.pages(WorkflowTemplate, route, "workflow_templates", {}, limit=page_size)

    def get_template(self, template_hash: str) -> WorkflowTemplate:
        params = {"template_hash": template_hash}
        return self.one(WorkflowTemplate, "GET", "/workflow-templates/{template_hash}", at=params)

    def update_template(
        self,
        template_hash: str,
        title: str,
        workflow: dict[str, Any],
        *,
        ontology_hash: str | None = None,
    ) -> WorkflowTemplate:
        """Replace title, workflow and ontology in place (projects made from it keep theirs)."""
        return self.one(
            WorkflowTemplate,
            "PUT",
            "/workflow-templates/{template_hash}",
            at={"template_hash": template_hash},
            json={"title": title, "workflow": workflow, "ontology_hash": ontology_hash},
        )

    def delete_template(self, template_hash: str) -> None:
        params = {"template_hash": template_hash}
        self.call("DELETE", "/workflow-templates/{template_hash}", params)

    # projects
    def create_project(
        self,
        title: str,
        dataset_hashes: Sequence[str],
        *,
        workflow: dict[str, Any] | None = None,
        workflow_template_hash: str | None = None,
        ontology_hash: str | None = None,
    ) -> Project:
        """Give exactly one of ``workflow`` or ``workflow_template_hash``."""
        body: dict[str, Any] = {"title": title, "dataset_hashes": list(dataset_hashes)}
        extra = {
            "workflow": workflow,
            "workflow_template_hash": workflow_template_hash,
            "ontology_hash": ontology_hash,
        }
        body.update({k: v for k, v in extra.items() if v is not None})
        return self.one(Project, "POST", "/projects", at={}, json=body)

    def iter_projects(self, *, page_size: int = 100) -> Iterator[Project]:
        return self.pages(Project, "/projects", "projects", {}, limit=page_size)

    def get_project(self, project_hash: str) -> Project:
        params = {"project_hash": project_hash}
        return self.one(Project, "GET", "/projects/{project_hash}", at=params)

    def get_workflow(self, project_hash: str) -> dict[str, Any]:
        params = {"project_hash": project_hash}
        return dict(self.call("GET", "/projects/{project_hash}/workflow", params))

    def put_workflow(self, project_hash: str, workflow: dict[str, Any]) -> dict[str, Any]:
        params = {"project_hash": project_hash}
        return dict(self.call("PUT", "/projects/{project_hash}/workflow", params, json=workflow))

    def save_as_template(
        self, project_hash: str, title: str, *, keep_webhooks: bool = False
    ) -> WorkflowTemplate:
        """A template of the project's workflow; ``keep_webhooks`` keeps the webhook URLs."""
        return self.one(
            WorkflowTemplate,
            "POST",
            "/projects/{project_hash}/workflow/save-as-template",
            at={"project_hash": project_hash},
            json={"title": title, "keep_webhooks": keep_webhooks},
        )

    # webhooks
    def list_webhooks(self, project_hash: str) -> list[Webhook]:
        """The project's webhooks with their health (no secrets)."""
        params = {"project_hash": project_hash}
        body = self.call("GET", "/projects/{project_hash}/webhooks", params)
        return [Webhook.model_validate(item) for item in body["webhooks"]]

    def set_webhook(self, project_hash: str, stage_uuid: str, url: str) -> Webhook:
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(Webhook, "PUT", _WEBHOOK, at=params, json={"url": url})

    def get_webhook(self, project_hash: str, stage_uuid: str) -> Webhook:
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(Webhook, "GET", _WEBHOOK, at=params)

    def delete_webhook(self, project_hash: str, stage_uuid: str) -> None:
        self.call("DELETE", _WEBHOOK, {"project_hash": project_hash, "stage_uuid": stage_uuid})

    def rotate_secret(self, project_hash: str, stage_uuid: str) -> Webhook:
        """A new secret; the old one keeps signing too during the grace period."""
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(Webhook, "POST", _WEBHOOK + "/rotate-secret", at=params)

    def enable_webhook(self, project_hash: str, stage_uuid: str) -> Webhook:
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(Webhook, "POST", _WEBHOOK + "/enable", at=params)

    def disable_webhook(self, project_hash: str, stage_uuid: str) -> Webhook:
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(Webhook, "POST", _WEBHOOK + "/disable", at=params)
