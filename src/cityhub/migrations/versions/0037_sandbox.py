"""sandbox: a channel's mode (live or test) and, for test credentials, the live channel they are
the sandbox of; payments made in the sandbox are marked so that no figure counts them

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-01 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=10), server_default="live", nullable=False)
        )
        batch_op.add_column(sa.Column("live_channel_id", BIG_ID, nullable=True))
        batch_op.create_index(
            op.f("ix_channels_live_channel_id"), ["live_channel_id"], unique=False
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sandbox", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("sandbox")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_channels_live_channel_id"))
        batch_op.drop_column("live_channel_id")
        batch_op.drop_column("mode")
