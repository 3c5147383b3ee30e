"""identity levels and proof of possession: a resident's level (none, channel_asserted,
authority_checked) and who raised it, the level a service needs, how each channel user came
to stand for its resident, link requests, and the `identity` service kind (population
registries)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEVELS = ("none", "channel_asserted", "authority_checked")
PROOFS = ("own", "sms_code", "channel_confirmation", "legacy")
KINDS = ("bill", "appointment", "query", "lottery", "notice", "request")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "identity_level",
                _enum("identity_level", LEVELS),
                server_default="none",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("identity_checked_by", sa.String(length=120), nullable=True))
    # Residents verified before levels existed were vouched for by the channel that sent
    # their name and number: that is what they are, and no more.
    op.execute(
        "UPDATE residents SET identity_level = 'channel_asserted' WHERE verified_at IS NOT NULL"
    )
    with op.batch_alter_table("channel_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "link_proof", _enum("link_proof", PROOFS), server_default="own", nullable=False
            )
        )
    # A user linked to a record first created for another user was linked on name and number
    # alone: no proof that counts.
    op.execute(
        "UPDATE channel_users SET link_proof = 'legacy' WHERE id <> ("
        "SELECT MIN(c2.id) FROM channel_users c2 WHERE c2.resident_id = channel_users.resident_id)"
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_level", _enum("identity_level", LEVELS), nullable=True)
        )
        batch_op.drop_constraint(op.f("ck_services_service_kind"), type_="check")
        batch_op.create_check_constraint(
            "service_kind", sa.column("kind").in_((*KINDS, "identity"))
        )
    op.create_table(
        "resident_link_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("channel_user_id", sa.String(length=128), nullable=False),
        sa.Column("resident_id", BIG_ID, nullable=False),
        sa.Column("target_resident_id", BIG_ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_masked", sa.String(length=24), nullable=True),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("status", _enum("link_status", ("pending", "linked", "expired")), nullable=False),
        sa.Column("proof", _enum("link_proof", PROOFS), nullable=True),
        sa.Column("confirmed_by_channel_id", BIG_ID, nullable=True),
        sa.Column("expires_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_resident_link_requests_channel_id_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_channel_id"],
            ["channels.id"],
            name=op.f("fk_resident_link_requests_confirmed_by_channel_id_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_link_requests_resident_id_residents"),
        ),
        sa.ForeignKeyConstraint(
            ["target_resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_link_requests_target_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_link_requests")),
    )
    with op.batch_alter_table("resident_link_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resident_link_requests_target", ["target_resident_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("resident_link_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_resident_link_requests_target")
    op.drop_table("resident_link_requests")
    op.execute("DELETE FROM services WHERE kind = 'identity'")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_services_service_kind"), type_="check")
        batch_op.create_check_constraint("service_kind", sa.column("kind").in_(KINDS))
        batch_op.drop_constraint(op.f("ck_services_identity_level"), type_="check")
        batch_op.drop_column("identity_level")
    with op.batch_alter_table("channel_users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_channel_users_link_proof"), type_="check")
        batch_op.drop_column("link_proof")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_residents_identity_level"), type_="check")
        batch_op.drop_column("identity_checked_by")
        batch_op.drop_column("identity_level")
