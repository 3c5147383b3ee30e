"""attempt counters: limits on guessing secrets and on asking for sign-in codes

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("open_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "previous_open_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("scope", "key_hash", name=op.f("pk_throttle_counters")),
    )
    with op.batch_alter_table("throttle_counters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_throttle_counters_scope_last_at", ["scope", "last_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("throttle_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_throttle_counters_scope_last_at")
    op.drop_table("throttle_counters")
