"""bill payments: terms, bills, payments, refunds, ledger, settlement, reconciliation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_statements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("uploaded_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_statements_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_channel_statements_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_statements")),
    )
    with op.batch_alter_table("channel_statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_statements_city_id"), ["city_id"], unique=False
        )
        batch_op.create_index(
            "ix_channel_statements_day", ["city_id", "channel_id", "day"], unique=False
        )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_ledger_accounts_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint(
            "city_id", "code", "currency", name=op.f("uq_ledger_accounts_city_id_code_currency")
        ),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_city_id"), ["city_id"], unique=False)

    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("party", sa.String(length=10), nullable=False),
        sa.Column("party_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.String(length=10), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=False),
        sa.Column("payment_ref", sa.String(length=80), nullable=False),
        sa.Column("hub_fen", sa.BigInteger(), nullable=True),
        sa.Column("their_fen", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_reconciliation_items_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_items")),
    )
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_items_city_id"), ["city_id"], unique=False
        )
        batch_op.create_index(
            "ix_reconciliation_items_day", ["city_id", "day", "party", "party_id"], unique=False
        )

    op.create_table(
        "biller_terms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("account_pattern", sa.String(length=200), nullable=False),
        sa.Column(
            "amount_rule",
            sa.Enum(
                "exact",
                "partial",
                "advance",
                name="amount_rule",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("min_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_fen", sa.BigInteger(), nullable=True),
        sa.Column("fee_fixed_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_rate_bps", sa.Integer(), nullable=False),
        sa.Column("accept_from", sa.Time(), nullable=True),
        sa.Column("accept_until", sa.Time(), nullable=True),
        sa.Column("quote_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_biller_terms_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_biller_terms_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_biller_terms")),
        sa.UniqueConstraint(
            "city_id", "service_id", name=op.f("uq_biller_terms_city_id_service_id")
        ),
    )
    with op.batch_alter_table("biller_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_biller_terms_city_id"), ["city_id"], unique=False)

    op.create_table(
        "bills",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("bill_ref", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "paying_payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("fetched_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], name=op.f("fk_bills_city_id_cities")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_bills_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint(
            "city_id", "service_id", "bill_ref", name=op.f("uq_bills_city_id_service_id_bill_ref")
        ),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bills_city_id"), ["city_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("holds_bill", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "quoted",
                "confirmed",
                "completed",
                "failed",
                "expired",
                "refunded",
                name="payment_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "quote_expires_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("channel_txn_id", sa.String(length=80), nullable=True),
        sa.Column("provider_ref", sa.String(length=120), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_detail", sa.String(length=400), nullable=True),
        sa.Column("biller_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_payments_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_payments_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_payments_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_payments_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "channel_id", "channel_txn_id", name=op.f("uq_payments_channel_id_channel_txn_id")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_payments_public_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_city_channel", ["city_id", "channel_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_city_completed", ["city_id", "completed_at"], unique=False
        )
        batch_op.create_index(
            "ix_payments_city_confirmed", ["city_id", "confirmed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payments_city_id"), ["city_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "staff",
                "biller_reversal",
                name="refund_source",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("biller_status", sa.String(length=10), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], name=op.f("fk_refunds_city_id_cities")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("public_id", name=op.f("uq_refunds_public_id")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_city_id"), ["city_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("refund_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_ledger_postings_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_postings_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_ledger_postings_refund_id_refunds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_postings_city_created", ["city_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_postings_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_postings_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "settlement_batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_ledger_entries_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["ledger_postings.id"],
            name=op.f("fk_ledger_entries_posting_id_ledger_postings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_account_batch",
            ["city_id", "account_id", "settlement_batch_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_ledger_entries_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_posting_id"), ["posting_id"], unique=False
        )

    op.create_table(
        "settlement_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("party", sa.String(length=10), nullable=False),
        sa.Column("party_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "posting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_settlement_batches_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_settlement_batches_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["ledger_postings.id"],
            name=op.f("fk_settlement_batches_posting_id_ledger_postings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_batches")),
        sa.UniqueConstraint(
            "city_id",
            "day",
            "party",
            "party_id",
            "currency",
            name=op.f("uq_settlement_batches_city_id_day_party_party_id_currency"),
        ),
    )
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_settlement_batches_city_id"), ["city_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_batches_city_id"))

    op.drop_table("settlement_batches")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_posting_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_city_id"))
        batch_op.drop_index("ix_ledger_entries_account_batch")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_postings_payment_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_postings_city_id"))
        batch_op.drop_index("ix_ledger_postings_city_created")

    op.drop_table("ledger_postings")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_city_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_city_id"))
        batch_op.drop_index("ix_payments_city_confirmed")
        batch_op.drop_index("ix_payments_city_completed")
        batch_op.drop_index("ix_payments_city_channel")

    op.drop_table("payments")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bills_city_id"))

    op.drop_table("bills")
    with op.batch_alter_table("biller_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_biller_terms_city_id"))

    op.drop_table("biller_terms")
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_items_day")
        batch_op.drop_index(batch_op.f("ix_reconciliation_items_city_id"))

    op.drop_table("reconciliation_items")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_city_id"))

    op.drop_table("ledger_accounts")
    with op.batch_alter_table("channel_statements", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_statements_day")
        batch_op.drop_index(batch_op.f("ix_channel_statements_city_id"))

    op.drop_table("channel_statements")
