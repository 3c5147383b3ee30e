"""provider staff bound to their provider; what payments stand against a shared bill

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing provider_staff roles stay unbound (acting on no provider's objects) until an
    # admin names their provider: the safe reading of "works for some provider".
    with op.batch_alter_table("staff_roles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=120), nullable=True))
    # Quotes already standing are not counted: they expire within minutes (quote_seconds).
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "paid_fen",
                sa.BigInteger(),
                server_default="0",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_column("paid_fen")
    with op.batch_alter_table("staff_roles", schema=None) as batch_op:
        batch_op.drop_column("provider")
