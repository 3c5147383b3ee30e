"""the biller catalogue: a biller's sub-type, the fields a customer fills in and the multiple
its partial and advance amounts come in, on its terms;
the holder's masked name and the late fee a biller sends, on the bills it showed

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("biller_terms") as batch:
        batch.add_column(
            sa.Column("sub_type", sa.String(20), nullable=False, server_default="other")
        )
        batch.add_column(sa.Column("fields", JSON, nullable=True))
        batch.add_column(
            sa.Column("multiple_fen", sa.BigInteger(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("bills") as batch:
        batch.add_column(sa.Column("holder", sa.String(40), nullable=True))
        batch.add_column(sa.Column("late_fee_fen", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bills") as batch:
        batch.drop_column("late_fee_fen")
        batch.drop_column("holder")
    with op.batch_alter_table("biller_terms") as batch:
        batch.drop_column("multiple_fen")
        batch.drop_column("fields")
        batch.drop_column("sub_type")
