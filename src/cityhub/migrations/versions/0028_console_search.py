"""console search: bills by account and payments by creation time, within the city, for the
console's payment search (an account, a date range)

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-01 20:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_bills_city_account", "bills", ["city_id", "account"])
    op.create_index("ix_payments_city_created", "payments", ["city_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_payments_city_created", table_name="payments")
    op.drop_index("ix_bills_city_account", table_name="bills")
