"""Who may do what: roles, principals and every access rule the API and the UI apply.

One home for the rules, so a page and an endpoint can never disagree. A check that
raises is named ``require_…``; it returns what it checked, so a caller can keep it.
A project the caller cannot see answers 404, never 403: its existence is not told.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, exists, select, true

from stagehook.errors import Forbidden, InvalidInput, NotFound
from stagehook.store.context import Store
from stagehook.store.projects_read import load_workflow, project_row
from stagehook.store.tables import (
    datasets,
    memberships,
    project_datasets,
    projects,
    tasks,
    users,
)
from stagehook.workflow.stages import Stage, StageType, TaskStatus


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


def may_see_images_of(
    conn: Connection, principal: Principal, dataset_hash: str, created_by: str
) -> bool:
    """A dataset's images: its users (``may_use_dataset``) and members of projects on it."""
    if may_use_dataset(principal, created_by):
        return True
    member = select(
        exists().where(
            project_datasets.c.dataset_hash == dataset_hash,
            memberships.c.project_hash == project_datasets.c.project_hash,
            memberships.c.user_id == principal.user_id,
        )
    )
    return bool(conn.execute(member).scalar_one())


def require_ontology_editor(principal: Principal, created_by: str) -> None:
    """Projects share ontologies, so only their creator (or an admin) changes one."""
    if not (principal.is_admin or created_by == principal.user_id):
        raise Forbidden("only the ontology's creator or an admin can change it")


def visible_datasets(principal: Principal) -> ColumnElement[bool]:
    """The datasets a principal finds in lists (see ``may_use_dataset``)."""
    return true() if principal.is_admin else datasets.c.created_by == principal.user_id


# ------------------------------------------------------------------ assigning tasks
def require_assignee(
    conn: Connection,
    principal: Principal,
    role: Role,
    project_hash: str,
    stage: Stage,
    assignee: str | None,
) -> None:
    """Who may ASSIGN a task to whom (docs/security.md, "Assigning tasks").

    Annotators and reviewers take tasks for themselves only; managers assign to an
    active member of the project who may work at this stage.
    """
    if assignee is None or assignee == principal.username:
        return
    if role not in MANAGER_ROLES:
        raise Forbidden(f"a {role.value} can assign tasks only to themselves, not to {assignee!r}")
    row = conn.execute(
        select(users.c.is_admin, users.c.disabled_at, memberships.c.role)
        .outerjoin(
            memberships,
            (memberships.c.user_id == users.c.user_id)
            & (memberships.c.project_hash == project_hash),
        )
        .where(users.c.username == assignee)
    ).first()
    if row is None or row.disabled_at is not None:
        raise InvalidInput(f"there is no active user {assignee!r} to assign the task to")
    their_role = Role(row.role) if row.role else (Role.ADMIN if row.is_admin else None)
    if their_role is None:
        raise InvalidInput(f"{assignee!r} is not a member of this project; add them first")
    allowed = ROLE_STAGE_TYPES.get(their_role)
    if allowed is not None and stage.stage_type not in allowed:
        raise InvalidInput(
            f"{assignee!r} is a {their_role.value} and cannot work at "
            f"{stage.stage_type} stage {stage.title!r}"
        )


# ------------------------------------------------------------------ editing labels
#: Who may change a task's labels where it rests (docs/security.md, "Editing labels").
#: Managers may edit at every stage; a task that reached a final stage takes an admin.
LABEL_EDITORS: dict[StageType, frozenset[Role]] = {
    StageType.ANNOTATE: frozenset({Role.ADMIN, Role.TEAM_MANAGER, Role.ANNOTATOR}),
    StageType.REVIEW: frozenset({Role.ADMIN, Role.TEAM_MANAGER, Role.REVIEWER}),
    StageType.COMPLETE: frozenset({Role.ADMIN}),
    StageType.ARCHIVE: frozenset({Role.ADMIN}),
}


def label_edit_refusal(
    principal: Principal,
    role: Role,
    stage_type: StageType | None,
    stage_title: str,
    status: str,
    assignee: str | None,
) -> str | None:
    """Why the principal may not change a task's labels where it rests, or None."""
    editors = LABEL_EDITORS.get(stage_type, frozenset()) if stage_type else frozenset()
    if role not in editors:
        return (
            f"a {role.value} cannot change labels of a task at {stage_type} stage {stage_title!r}"
        )
    held = status == TaskStatus.ASSIGNED and assignee not in (None, principal.username)
    if held and role not in MANAGER_ROLES:
        return f"the task is assigned to {assignee}; only they can change its labels"
    return None


def require_label_editor(
    conn: Connection, principal: Principal, role: Role, project_hash: str, label_hash: str
) -> None:
    """Raise unless the principal may change this label row now (API and UI alike)."""
    task = conn.execute(
        select(tasks.c.stage_uuid, tasks.c.status, tasks.c.assignee).where(
            tasks.c.project_hash == project_hash, tasks.c.label_hash == label_hash
        )
    ).first()
    if task is None:
        raise NotFound(f"label row {label_hash} does not exist in this project")
    stage = load_workflow(conn, project_hash).stage(task.stage_uuid)
    refusal = label_edit_refusal(
        principal,
        role,
        stage.stage_type if stage else None,
        stage.title if stage else task.stage_uuid,
        task.status,
        task.assignee,
    )
    if refusal is not None:
        raise Forbidden(refusal)
