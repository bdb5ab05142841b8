"""labeling: ontologies, uploaded images on data units, label feature index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ontologies",
        sa.Column("seq", _ID, autoincrement=True, nullable=False),
        sa.Column("ontology_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("structure", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_edited_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ontologies")),
        sa.UniqueConstraint("ontology_hash", name=op.f("uq_ontologies_ontology_hash")),
    )
    op.create_table(
        "label_features",
        sa.Column("label_hash", sa.String(length=64), nullable=False),
        sa.Column("feature_hash", sa.String(length=100), nullable=False),
        sa.Column("project_hash", sa.String(length=64), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_hash"],
            ["label_rows.label_hash"],
            name=op.f("fk_label_features_label_hash_label_rows"),
        ),
        sa.PrimaryKeyConstraint("label_hash", "feature_hash", name=op.f("pk_label_features")),
    )
    with op.batch_alter_table("label_features", schema=None) as batch_op:
        batch_op.create_index(
            "ix_label_features_feature", ["feature_hash", "project_hash"], unique=False
        )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ontology_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("workflow_templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ontology_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("data_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mime_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.create_index("ix_data_units_sha256", ["dataset_hash", "sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("data_units", schema=None) as batch_op:
        batch_op.drop_index("ix_data_units_sha256")
        for column in ("height", "width", "size_bytes", "mime_type", "sha256"):
            batch_op.drop_column(column)
    with op.batch_alter_table("workflow_templates", schema=None) as batch_op:
        batch_op.drop_column("ontology_hash")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("ontology_hash")
    with op.batch_alter_table("label_features", schema=None) as batch_op:
        batch_op.drop_index("ix_label_features_feature")
    op.drop_table("label_features")
    op.drop_table("ontologies")
