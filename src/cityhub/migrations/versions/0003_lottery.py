"""lottery rounds and applications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lottery_rounds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("opens_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                "drawn",
                "published",
                name="lottery_round_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("public_value", sa.String(length=200), nullable=True),
        sa.Column("applicants_hash", sa.String(length=64), nullable=True),
        sa.Column("applicant_count", sa.Integer(), nullable=False),
        sa.Column("excluded_count", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("drawn_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_lottery_rounds_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_lottery_rounds_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_rounds")),
        sa.UniqueConstraint("city_id", "code", name=op.f("uq_lottery_rounds_city_id_code")),
    )
    with op.batch_alter_table("lottery_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lottery_rounds_city_id"), ["city_id"], unique=False)

    op.create_table(
        "lottery_applications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("round_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "applied",
                "withdrawn",
                "excluded",
                "won",
                "lost",
                name="lottery_application_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("excluded_reason", sa.String(length=400), nullable=True),
        sa.Column("score", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("applied_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_lottery_applications_channel_id_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_lottery_applications_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_lottery_applications_resident_id_residents"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["lottery_rounds.id"],
            name=op.f("fk_lottery_applications_round_id_lottery_rounds"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_lottery_applications_service_id_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_applications")),
        sa.UniqueConstraint("application_id", name=op.f("uq_lottery_applications_application_id")),
        sa.UniqueConstraint(
            "round_id", "resident_id", name=op.f("uq_lottery_applications_round_id_resident_id")
        ),
    )
    with op.batch_alter_table("lottery_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lottery_applications_city_id"), ["city_id"], unique=False
        )
        batch_op.create_index(
            "ix_lottery_applications_failures",
            ["city_id", "resident_id", "service_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            "ix_lottery_applications_round_status", ["city_id", "round_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lottery_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_lottery_applications_round_status")
        batch_op.drop_index("ix_lottery_applications_failures")
        batch_op.drop_index(batch_op.f("ix_lottery_applications_city_id"))

    op.drop_table("lottery_applications")
    with op.batch_alter_table("lottery_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lottery_rounds_city_id"))

    op.drop_table("lottery_rounds")
