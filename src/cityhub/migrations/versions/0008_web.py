"""resident portal: one-time sign-in codes and residents' web sessions

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_sign_in_codes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("expires_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sign_in_codes")),
    )
    with op.batch_alter_table("portal_sign_in_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_sign_in_codes_client", ["client_hash", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_portal_sign_in_codes_phone", ["phone_hash", "created_at"], unique=False
        )

    op.create_table(
        "portal_sessions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("resident_id", BIG_ID, nullable=False),
        sa.Column("channel_user_id", sa.String(length=120), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_portal_sessions_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_sessions_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("portal_sessions")
    with op.batch_alter_table("portal_sign_in_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_sign_in_codes_phone")
        batch_op.drop_index("ix_portal_sign_in_codes_client")
    op.drop_table("portal_sign_in_codes")
