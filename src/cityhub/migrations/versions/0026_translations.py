"""translations of content: the names of government accounts, their agencies and topics,
departments, doctors' titles, lottery rounds' titles and providers, in the hub's languages
(a JSON column beside each plain one, which stays what is shown when a language is missing)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("services", "provider_names"),
    ("notice_accounts", "names"),
    ("notice_accounts", "agency_names"),
    ("notice_topics", "names"),
    ("appt_departments", "names"),
    ("appt_practitioners", "titles"),
    ("lottery_rounds", "titles"),
)


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(column, json, nullable=False, server_default=sa.text("'{}'"))
            )


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
