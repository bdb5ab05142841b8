"""server-side sessions, sign-in throttle, deactivated users, encrypted webhook secrets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_sessions_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.key_id"], name=op.f("fk_sessions_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id", "ended_at"])
    op.create_index("ix_sessions_key", "sessions", ["key_id"])
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
    )
    op.create_index("ix_signin_failures_subject", "signin_failures", ["subject", "at"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.Double(), nullable=True))
    # Signing secrets are stored encrypted from now on ("enc1:..."); plaintext rows left
    # by 0001 are encrypted when the server starts (it holds the key, migrations don't).
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret", type_=sa.String(length=400), existing_nullable=False)
        batch.alter_column("previous_secret", type_=sa.String(length=400), existing_nullable=True)
    repair_lone_surrogates(op.get_bind())


#: JSON columns that could hold a lone surrogate stored before the API refused them; such
#: a row could not be sent back (as UTF-8) and made every read of it fail.
JSON_COLUMNS = (
    ("label_rows", "label_hash", "labels"),
    ("data_units", "seq", "metadata"),
    ("projects", "seq", "workflow"),
    ("workflow_templates", "seq", "workflow"),
)
_LONE = re.compile("[\ud800-\udfff]")


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    return value


def repair_lone_surrogates(conn: sa.Connection) -> None:
    """Replace lone surrogates with U+FFFD so every row reads back (valid pairs stay)."""
    for table, key, column in JSON_COLUMNS:
        _repair(conn, table, key, column)


def _repair(conn: sa.Connection, table: str, key: str, column: str) -> None:
    rows = sa.table(table, sa.column(key), sa.column(column, sa.Text))
    text = sa.cast(rows.c[column], sa.Text)
    # JSON text keeps non-ASCII as \uXXXX escapes: only rows with such an escape can hold one.
    suspects = conn.execute(
        sa.select(rows.c[key], text).where(
            text.like("%\\ud%", escape="!") | text.like("%\\uD%", escape="!")
        )
    ).all()
    for row_key, stored in suspects:
        document = json.loads(stored)
        fixed = _repaired(document)
        if fixed != document:
            conn.execute(
                sa.update(rows).where(rows.c[key] == row_key).values({column: json.dumps(fixed)})
            )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("previous_secret", type_=sa.String(length=200), existing_nullable=True)
        batch.alter_column("secret", type_=sa.String(length=200), existing_nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    op.drop_index("ix_signin_failures_subject", table_name="signin_failures")
    op.drop_table("signin_failures")
    op.drop_index("ix_sessions_key", table_name="sessions")
    op.drop_index("ix_sessions_user", table_name="sessions")
    op.drop_table("sessions")
