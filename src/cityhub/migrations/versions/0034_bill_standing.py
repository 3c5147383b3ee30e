"""a bill's standing: what is reserved by payments under way apart from what is paid, what the
biller says was paid and until when it takes payment; the biller's status in full
(unpaid, partially_paid, paid, expired, cancelled)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `paid_fen` held everything standing against a shared bill (quotes, confirmed and completed
# payments); from here on it is what was paid (completed, less refunds) and `reserved_fen`
# what payments under way hold. Both are set again from the payments themselves.
_RESERVED = """
UPDATE bills SET reserved_fen = COALESCE((
    SELECT SUM(p.amount_fen) FROM payments p
    WHERE p.city_id = bills.city_id AND p.bill_id = bills.id
      AND p.status IN ('quoted', 'confirmed') AND NOT p.holds_bill), 0)
"""
_PAID = """
UPDATE bills SET paid_fen = COALESCE((
    SELECT SUM(p.amount_fen - p.refunded_fen) FROM payments p
    WHERE p.city_id = bills.city_id AND p.bill_id = bills.id
      AND p.status IN ('completed', 'refunded')), 0)
"""
_STANDING = "UPDATE bills SET paid_fen = paid_fen + reserved_fen"


def upgrade() -> None:
    with op.batch_alter_table("bills") as batch:
        batch.add_column(
            sa.Column("reserved_fen", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("biller_paid_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("payable_until", sa.Date(), nullable=True))
        batch.alter_column(
            "status", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False
        )
    op.execute(_RESERVED)
    op.execute(_PAID)


def downgrade() -> None:
    op.execute(_STANDING)
    op.execute("UPDATE bills SET status = 'unpaid' WHERE status = 'partially_paid'")
    # Expired and cancelled bills are not payable: in the old words, nothing is owed.
    op.execute("UPDATE bills SET status = 'paid' WHERE status NOT IN ('unpaid', 'paid')")
    with op.batch_alter_table("bills") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False
        )
        batch.drop_column("payable_until")
        batch.drop_column("biller_paid_fen")
        batch.drop_column("reserved_fen")
