"""auto-debit: a resident's agreements for a channel to pay an account's bills up to a limit,
and the one auto-debit of each bill

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = cityhub.platform.db.UTCDateTime(timezone=True)
AGREEMENT = ("active", "paused", "cancelled")
DEBIT = ("scheduled", "requested", "confirmed", "over_limit", "failed", "cancelled")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _keys(table: str) -> list[sa.Constraint]:
    if op.get_bind().dialect.name == "sqlite":
        return [
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("city_id", "id", name=op.f(f"uq_{table}_city_id_id")),
        ]
    return [sa.PrimaryKeyConstraint("city_id", "id", name=op.f(f"pk_{table}"))]


def _agreements() -> None:
    table = "auto_debit_agreements"
    op.create_table(
        table,
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("resident_id", BIG_ID, nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", _enum("auto_debit_agreement_status", AGREEMENT), nullable=False),
        sa.Column("consent_id", BIG_ID, nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f(f"fk_{table}_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f(f"fk_{table}_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f(f"fk_{table}_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f(f"fk_{table}_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "service_id"],
            ["services.city_id", "services.id"],
            name=op.f(f"fk_{table}_service_id_services"),
        ),
        sa.UniqueConstraint("city_id", "public_id", name=op.f(f"uq_{table}_city_id_public_id")),
        *_keys(table),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(op.f(f"ix_{table}_city_id"), ["city_id"], unique=False)
        batch_op.create_index(f"ix_{table}_resident", ["city_id", "resident_id", "id"])
        batch_op.create_index(f"ix_{table}_channel", ["city_id", "channel_id", "id"])
        batch_op.create_index(f"ix_{table}_status", ["city_id", "status", "id"])
        batch_op.create_index(f"ix_{table}_account", ["city_id", "service_id", "account"])


def _debits() -> None:
    table = "auto_debits"
    op.create_table(
        table,
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("agreement_id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("bill_id", BIG_ID, nullable=False),
        sa.Column("bill_ref", sa.String(length=80), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", _enum("auto_debit_status", DEBIT), nullable=False),
        sa.Column("debit_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payment_id", BIG_ID, nullable=True),
        sa.Column("payment_public_id", sa.String(length=40), nullable=True),
        sa.Column("answer_by", WHEN, nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_detail", sa.String(length=400), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f(f"fk_{table}_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "agreement_id"],
            ["auto_debit_agreements.city_id", "auto_debit_agreements.id"],
            name=op.f(f"fk_{table}_agreement_id_auto_debit_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "bill_id"],
            ["bills.city_id", "bills.id"],
            name=op.f(f"fk_{table}_bill_id_bills"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "payment_id"],
            ["payments.city_id", "payments.id"],
            name=op.f(f"fk_{table}_payment_id_payments"),
        ),
        sa.UniqueConstraint("city_id", "public_id", name=op.f(f"uq_{table}_city_id_public_id")),
        sa.UniqueConstraint(
            "city_id",
            "service_id",
            "bill_ref",
            name=op.f(f"uq_{table}_city_id_service_id_bill_ref"),
        ),
        *_keys(table),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(op.f(f"ix_{table}_city_id"), ["city_id"], unique=False)
        batch_op.create_index(f"ix_{table}_agreement", ["city_id", "agreement_id", "id"])
        batch_op.create_index(f"ix_{table}_due", ["city_id", "status", "debit_at"])


def upgrade() -> None:
    _agreements()
    _debits()


def downgrade() -> None:
    op.drop_table("auto_debits")
    op.drop_table("auto_debit_agreements")
