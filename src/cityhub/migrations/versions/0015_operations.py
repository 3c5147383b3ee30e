"""operations: the standard service categories (a fresh hub can create services), categories
that can be disabled, forced password change after a reset, recurring job runs and schedules

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The catalogue's categories as this revision writes them (a copy: later changes to the code's
# list must not change what this migration did).
CATEGORIES = (
    ("payments", 10, "生活缴费", "生活繳費", "Bills"),
    ("medical", 20, "医疗健康", "醫療健康", "Health"),
    ("traffic", 30, "交通出行", "交通出行", "Traffic"),
    ("queries", 35, "信息查询", "資訊查詢", "Look-ups"),
    ("social_security", 40, "社会保障", "社會保障", "Social security"),
    ("housing", 50, "住房公积金", "住房公積金", "Housing fund"),
    ("lotteries", 60, "摇号", "搖號", "Lotteries"),
    ("public_info", 70, "公共信息", "公共資訊", "Public information"),
    ("government_affairs", 80, "政务服务", "政務服務", "Government services"),
)


def _seed_categories() -> None:
    connection = op.get_bind()
    table = sa.table(
        "service_categories",
        sa.column("code", sa.String),
        sa.column("position", sa.Integer),
        sa.column("name_zh_hans", sa.String),
        sa.column("name_zh_hant", sa.String),
        sa.column("name_en", sa.String),
        sa.column("active", sa.Boolean),
    )
    present = set(connection.execute(sa.select(table.c.code)).scalars())
    rows = [
        {"code": c, "position": p, "name_zh_hans": hans, "name_zh_hant": hant, "name_en": en,
         "active": True}
        for c, p, hans, hant, en in CATEGORIES
        if c not in present
    ]  # fmt: skip
    if rows:
        op.bulk_insert(table, rows)


def upgrade() -> None:
    with op.batch_alter_table("service_categories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    _seed_categories()
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )

    op.create_table(
        "job_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("city_id", BIG_ID, nullable=True),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("due_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=80), nullable=False),
        sa.Column("started_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retry_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_job_runs_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("scope", "job", "due_at", name=op.f("uq_job_runs_scope_job_due_at")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_runs_city", ["city_id", "job", "due_at"], unique=False)
        batch_op.create_index("ix_job_runs_status", ["status", "locked_until"], unique=False)

    op.create_table(
        "job_settings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("city_id", BIG_ID, nullable=True),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_job_settings_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_settings")),
        sa.UniqueConstraint("scope", "job", name=op.f("uq_job_settings_scope_job")),
    )
    with op.batch_alter_table("job_settings", schema=None) as batch_op:
        batch_op.create_index("ix_job_settings_city", ["city_id", "job"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_settings", schema=None) as batch_op:
        batch_op.drop_index("ix_job_settings_city")
    op.drop_table("job_settings")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_status")
        batch_op.drop_index("ix_job_runs_city")
    op.drop_table("job_runs")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    # The categories stay (services may use them); only the switch goes.
    with op.batch_alter_table("service_categories", schema=None) as batch_op:
        batch_op.drop_column("active")
