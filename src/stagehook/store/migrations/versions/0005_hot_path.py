"""task counts per stage and status kept with every transition; tasks by project and
seq; the authentication epoch that access changes bump

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_counts",
        sa.Column("project_hash", sa.String(length=64), nullable=False),
        sa.Column("stage_uuid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project_hash", "stage_uuid", "status", "shard", name=op.f("pk_task_counts")
        ),
    )
    op.execute(
        "INSERT INTO task_counts (project_hash, stage_uuid, status, shard, n) "
        "SELECT project_hash, stage_uuid, status, 0, COUNT(*) FROM tasks "
        "GROUP BY project_hash, stage_uuid, status"
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_project_seq", ["project_hash", "seq"], unique=False)
    op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_epoch")),
    )
    op.execute("INSERT INTO auth_epoch (id, value) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("auth_epoch")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_seq")
    op.drop_table("task_counts")
