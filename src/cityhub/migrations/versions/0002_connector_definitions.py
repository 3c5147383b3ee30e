"""connector definitions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_definitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_connector_definitions_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_definitions")),
        sa.UniqueConstraint("city_id", "name", name=op.f("uq_connector_definitions_city_id_name")),
    )
    with op.batch_alter_table("connector_definitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connector_definitions_city_id"), ["city_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("connector_definitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_definitions_city_id"))

    op.drop_table("connector_definitions")
