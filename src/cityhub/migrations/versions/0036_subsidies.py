"""subsidies: a city's subsidy campaigns, their channels' quotas and the claims; the part of a
payment a subsidy took off

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = cityhub.platform.db.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _keys(table: str) -> list[sa.Constraint]:
    if op.get_bind().dialect.name == "sqlite":
        return [
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("city_id", "id", name=op.f(f"uq_{table}_city_id_id")),
        ]
    return [sa.PrimaryKeyConstraint("city_id", "id", name=op.f(f"pk_{table}"))]


def _tenant(table: str) -> list[sa.Column[int] | sa.Constraint]:
    return [
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f(f"fk_{table}_city_id_cities")
        ),
    ]


def _campaign_fk(table: str) -> sa.Constraint:
    return sa.ForeignKeyConstraint(
        ["city_id", "campaign_id"],
        ["subsidy_campaigns.city_id", "subsidy_campaigns.id"],
        name=op.f(f"fk_{table}_campaign_id_subsidy_campaigns"),
        ondelete="CASCADE",
    )


def _campaigns() -> None:
    op.create_table(
        "subsidy_campaigns",
        *_tenant("subsidy_campaigns"),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", _enum("campaign_status", ("active", "stopped")), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("left_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "benefit_kind", _enum("benefit_kind", ("fixed", "percent", "voucher")), nullable=False
        ),
        sa.Column("benefit_value", sa.BigInteger(), nullable=False),
        sa.Column("cap_fen", sa.BigInteger(), nullable=True),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("applies_to", JSON, nullable=False),
        sa.Column("per_person", sa.Integer(), nullable=False),
        sa.Column("hold_seconds", sa.Integer(), nullable=False),
        sa.Column("eligibility_service", sa.String(length=60), nullable=True),
        sa.Column("eligibility_list", sa.String(length=40), nullable=True),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("stopped_at", WHEN, nullable=True),
        sa.UniqueConstraint("city_id", "code", name=op.f("uq_subsidy_campaigns_city_id_code")),
        *_keys("subsidy_campaigns"),
    )
    with op.batch_alter_table("subsidy_campaigns", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_subsidy_campaigns_city_id"), ["city_id"], unique=False)


def _quotas() -> None:
    op.create_table(
        "subsidy_quotas",
        *_tenant("subsidy_quotas"),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("quota_fen", sa.BigInteger(), nullable=False),
        sa.Column("left_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_subsidy_quotas_channel_id_channels")
        ),
        _campaign_fk("subsidy_quotas"),
        sa.UniqueConstraint(
            "city_id",
            "campaign_id",
            "channel_id",
            name=op.f("uq_subsidy_quotas_city_id_campaign_id_channel_id"),
        ),  # fmt: skip
        *_keys("subsidy_quotas"),
    )
    with op.batch_alter_table("subsidy_quotas", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_subsidy_quotas_city_id"), ["city_id"], unique=False)


def _claims() -> None:
    statuses = ("reserved", "applied", "used", "expired")
    op.create_table(
        "subsidy_claims",
        *_tenant("subsidy_claims"),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("resident_id", BIG_ID, nullable=False),
        sa.Column("n", sa.Integer(), nullable=True),
        sa.Column("channel_id", BIG_ID, nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("status", _enum("claim_status", statuses), nullable=False),
        sa.Column("reserved_fen", sa.BigInteger(), nullable=False),
        sa.Column("used_fen", sa.BigInteger(), nullable=False),
        sa.Column("payment_public_id", sa.String(length=40), nullable=True),
        sa.Column("payment_channel_id", BIG_ID, nullable=True),
        sa.Column("payment_service_id", BIG_ID, nullable=True),
        sa.Column("applied_until", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_subsidy_claims_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_subsidy_claims_channel_id_channels")
        ),
        _campaign_fk("subsidy_claims"),
        sa.UniqueConstraint(
            "city_id", "public_id", name=op.f("uq_subsidy_claims_city_id_public_id")
        ),
        sa.UniqueConstraint(
            "city_id",
            "campaign_id",
            "resident_id",
            "n",
            name=op.f("uq_subsidy_claims_city_id_campaign_id_resident_id_n"),
        ),  # fmt: skip
        *_keys("subsidy_claims"),
    )
    with op.batch_alter_table("subsidy_claims", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_subsidy_claims_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            "ix_subsidy_claims_campaign", ["city_id", "campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_subsidy_claims_payment", ["city_id", "payment_public_id"], unique=False
        )
        batch_op.create_index(
            "ix_subsidy_claims_expiry", ["city_id", "status", "expires_at"], unique=False
        )


def upgrade() -> None:
    _campaigns()
    _quotas()
    _claims()
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subsidy_fen", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("subsidy_fen")
    op.drop_table("subsidy_claims")
    op.drop_table("subsidy_quotas")
    op.drop_table("subsidy_campaigns")
