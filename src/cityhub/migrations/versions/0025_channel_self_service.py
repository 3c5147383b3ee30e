"""channel self-service: a rotated secret's overlap window (the old client secret's hash, the
old webhook secret encrypted, when each stops), a channel's deep-link templates, the refund
rule of a biller's terms, and a channel's refund requests

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-01 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = cityhub.platform.db.UTCDateTime(timezone=True)
SOURCES = ("staff", "biller_reversal")
RULES = ("staff", "channel", "none")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("old_secret_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("old_secret_until", WHEN, nullable=True))
        batch_op.add_column(sa.Column("old_webhook_secret_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("old_webhook_secret_until", WHEN, nullable=True))
        batch_op.add_column(
            sa.Column("link_templates", cityhub.platform.db.JsonType, nullable=True)
        )
    with op.batch_alter_table("biller_terms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refund_rule", _enum("refund_rule", RULES), server_default="staff", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("refund_days", sa.Integer(), server_default="30", nullable=False)
        )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_refunds_refund_source"), type_="check")
        batch_op.create_check_constraint(
            "refund_source", sa.column("source").in_((*SOURCES, "channel"))
        )
    sqlite = op.get_bind().dialect.name == "sqlite"
    keys: list[sa.Constraint] = (
        [
            sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
            sa.UniqueConstraint("city_id", "id", name=op.f("uq_refund_requests_city_id_id")),
        ]
        if sqlite
        else [sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_refund_requests"))]
    )
    op.create_table(
        "refund_requests",
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", BIG_ID, nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            _enum("refund_request_status", ("pending", "refunded", "declined")),
            nullable=False,
        ),
        sa.Column("refund_public_id", sa.String(length=40), nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decision_note", sa.String(length=200), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_refund_requests_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_refund_requests_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "payment_id"],
            ["payments.city_id", "payments.id"],
            name=op.f("fk_refund_requests_payment_id_payments"),
        ),
        sa.UniqueConstraint(
            "city_id", "public_id", name=op.f("uq_refund_requests_city_id_public_id")
        ),
        *keys,
    )
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_refund_requests_city_id"), ["city_id"], unique=False)
        batch_op.create_index(op.f("ix_refund_requests_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index("ix_refund_requests_status", ["city_id", "status", "id"])


def downgrade() -> None:
    op.drop_table("refund_requests")
    op.execute("UPDATE refunds SET source = 'staff' WHERE source = 'channel'")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_refunds_refund_source"), type_="check")
        batch_op.create_check_constraint("refund_source", sa.column("source").in_(SOURCES))
    with op.batch_alter_table("biller_terms", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_biller_terms_refund_rule"), type_="check")
        batch_op.drop_column("refund_days")
        batch_op.drop_column("refund_rule")
    # Not a batch: on SQLite that would copy the table and lose its cache-version triggers.
    for column in (
        "link_templates",
        "old_webhook_secret_until",
        "old_webhook_secret_enc",
        "old_secret_until",
        "old_secret_hash",
    ):
        op.drop_column("channels", column)
