"""Who may do what: roles, principals and every access rule the API and the UI apply.

One home for the rules, so a page and an endpoint can never disagree. A check that
raises is named ``require_…``; it returns what it checked, so a caller can keep it.
A project the caller cannot see answers 404, never 403: its existence is not told.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, select, true

from stagehook.errors import Forbidden, NotFound
from stagehook.store.context import Store
from stagehook.store.projects_read import project_row
from stagehook.store.tables import datasets, memberships, projects
from stagehook.workflow.stages import Stage, StageType


class Role(StrEnum):
    ADMIN = "admin"
    TEAM_MANAGER = "team_manager"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"


MANAGER_ROLES = frozenset({Role.ADMIN, Role.TEAM_MANAGER})

#: Which project roles may act at which stage types (managers act anywhere).
ROLE_STAGE_TYPES: dict[Role, frozenset[StageType]] = {
    Role.ANNOTATOR: frozenset({StageType.ANNOTATE}),
    Role.REVIEWER: frozenset({StageType.REVIEW}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's or a signed-in session's user."""

    user_id: str
    username: str
    is_admin: bool


def require_admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin can do this")
    return principal


def project_role(conn: Connection, principal: Principal, project_hash: str) -> Role | None:
    """The principal's role in a project; global admins act as project admins."""
    row = conn.execute(
        select(memberships.c.role).where(
            memberships.c.project_hash == project_hash,
            memberships.c.user_id == principal.user_id,
        )
    ).first()
    if row is not None:
        return Role(row.role)
    return Role.ADMIN if principal.is_admin else None


def require_project_role(store: Store, principal: Principal, project_hash: str) -> Role:
    """The caller's role in an existing project; a project they cannot see is a 404."""
    with store.db.read() as conn:
        role = project_role(conn, principal, project_hash)
        if role is None:
            raise NotFound(f"project {project_hash} does not exist")
        project_row(conn, project_hash)
    return role


def require_manager(role: Role) -> Role:
    """Changing a project's workflow, webhooks or deliveries takes a manager."""
    if role not in MANAGER_ROLES:
        raise Forbidden(f"a {role.value} cannot change this project's workflow or webhooks")
    return role


def require_project_admin(role: Role) -> Role:
    """Members and moving tasks by hand take a project admin."""
    if role != Role.ADMIN:
        raise Forbidden("only a project admin can do this")
    return role


def require_role_at_stage(role: Role, stage: Stage) -> None:
    """Annotators act at Annotate stages and reviewers at Review stages only."""
    allowed = ROLE_STAGE_TYPES.get(role)
    if allowed is not None and stage.stage_type not in allowed:
        raise Forbidden(f"a {role.value} cannot act at {stage.stage_type} stage {stage.title!r}")


def may_override(role: Role) -> bool:
    """Managers may act on tasks assigned to someone else."""
    return role in MANAGER_ROLES


def visible_projects(principal: Principal) -> ColumnElement[bool]:
    """The projects a principal finds in lists: admins all, others those they belong to."""
    if principal.is_admin:
        return true()
    mine = select(memberships.c.project_hash).where(memberships.c.user_id == principal.user_id)
    return projects.c.project_hash.in_(mine)


def may_use_dataset(principal: Principal, created_by: str) -> bool:
    """Datasets are private to their creator (and admins)."""
    return principal.is_admin or created_by == principal.user_id


def visible_datasets(principal: Principal) -> ColumnElement[bool]:
    """The datasets a principal finds in lists (see ``may_use_dataset``)."""
    return true() if principal.is_admin else datasets.c.created_by == principal.user_id
