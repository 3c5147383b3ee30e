"""connector secrets: a city's credentials for its connectors, encrypted at rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connector_secrets",
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_connector_secrets_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "name", name=op.f("pk_connector_secrets")),
    )


def downgrade() -> None:
    op.drop_table("connector_secrets")
