"""complaints: a channel's complaints about its payments or a city's services, and each change
of their status

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityhub.platform.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = cityhub.platform.db.UTCDateTime(timezone=True)
TYPES = ("debited_not_credited", "paid_twice", "wrong_amount", "service")
STATUSES = ("logged", "assigned", "resolved", "escalated")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _keys(table: str) -> list[sa.Constraint]:
    if op.get_bind().dialect.name == "sqlite":
        return [
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("city_id", "id", name=op.f(f"uq_{table}_city_id_id")),
        ]
    return [sa.PrimaryKeyConstraint("city_id", "id", name=op.f(f"pk_{table}"))]


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.String(length=80), nullable=True),
        sa.Column("type", _enum("complaint_type", TYPES), nullable=False),
        sa.Column("status", _enum("complaint_status", STATUSES), nullable=False),
        sa.Column("payment_public_id", sa.String(length=40), nullable=True),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("assigned_to", sa.String(length=120), nullable=True),
        sa.Column("resolution", sa.String(length=1000), nullable=True),
        sa.Column("refund_public_id", sa.String(length=40), nullable=True),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_complaints_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_complaints_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "service_id"],
            ["services.city_id", "services.id"],
            name=op.f("fk_complaints_service_id_services"),
        ),
        sa.UniqueConstraint("city_id", "public_id", name=op.f("uq_complaints_city_id_public_id")),
        *_keys("complaints"),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_complaints_city_id"), ["city_id"], unique=False)
        batch_op.create_index("ix_complaints_channel", ["city_id", "channel_id", "id"])
        batch_op.create_index("ix_complaints_due", ["city_id", "status", "due_at"])
    op.create_table(
        "complaint_events",
        sa.Column("city_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("complaint_id", BIG_ID, nullable=False),
        sa.Column("status", _enum("complaint_event_status", STATUSES), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_complaint_events_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "complaint_id"],
            ["complaints.city_id", "complaints.id"],
            name=op.f("fk_complaint_events_complaint_id_complaints"),
            ondelete="CASCADE",
        ),
        *_keys("complaint_events"),
    )
    with op.batch_alter_table("complaint_events", schema=None) as batch_op:
        batch_op.create_index(op.f("ix_complaint_events_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            op.f("ix_complaint_events_complaint_id"), ["complaint_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("complaint_events")
    op.drop_table("complaints")
