"""ledger balances without a hot row: entries are rolled up into their account's balance by a
job, and a balance reads as the stored part plus the entries not rolled up yet

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rolled_up", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Until now every posting moved its accounts' balances in its own transaction: every entry
    # that exists is in its account's balance already.
    op.execute(sa.text("UPDATE ledger_entries SET rolled_up = true"))
    op.create_index(
        "ix_ledger_entries_not_rolled_up",
        "ledger_entries",
        ["city_id", "account_id"],
        unique=False,
        postgresql_where=sa.text("NOT rolled_up"),
        sqlite_where=sa.text("NOT rolled_up"),
    )


def downgrade() -> None:
    # The balances take back what was posted and not rolled up yet (every entry counts again).
    op.execute(
        sa.text(
            "UPDATE ledger_accounts SET balance_fen = balance_fen + COALESCE((SELECT"
            " SUM(e.amount_fen) FROM ledger_entries e WHERE e.account_id = ledger_accounts.id"
            " AND NOT e.rolled_up), 0)"
        )
    )
    op.drop_index("ix_ledger_entries_not_rolled_up", table_name="ledger_entries")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("rolled_up")
