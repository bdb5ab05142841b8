"""task history keeps a reviewer's comment; an index for "the tasks I hold at a stage"

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_stage_assignee",
            ["project_hash", "stage_uuid", "assignee", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_stage_assignee")
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.drop_column("comment")
