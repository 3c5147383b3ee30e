"""history: an index to find a channel user's payments (a person's history reads them by
(channel, user) in each city)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payments_city_user", "payments", ["city_id", "channel_id", "user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_payments_city_user", table_name="payments")
