"""requests: departments, request types, service requests with their timeline, photos and
followers, the cities' request settings (calendar, area), Open311 keys

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-01 14:03:27.722285
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.platform.db

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_request_api_keys_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_api_keys_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_request_api_keys_key_hash")),
    )
    with op.batch_alter_table("request_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_api_keys_city_id"), ["city_id"], unique=False)

    op.create_table(
        "request_departments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column(
            "names",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "head_staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_departments_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["head_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_request_departments_head_staff_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_departments")),
        sa.UniqueConstraint("city_id", "code", name=op.f("uq_request_departments_city_id_code")),
    )
    with op.batch_alter_table("request_departments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_departments_city_id"), ["city_id"], unique=False
        )

    op.create_table(
        "request_settings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "workdays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "periods",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "holidays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "extra_workdays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "area",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "districts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("triage_hours", sa.Integer(), nullable=False),
        sa.Column("reopen_days", sa.Integer(), nullable=False),
        sa.Column("publish_open", sa.Boolean(), nullable=False),
        sa.Column("updated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_settings_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_settings")),
        sa.UniqueConstraint("city_id", name=op.f("uq_request_settings_city_id")),
    )
    with op.batch_alter_table("request_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_settings_city_id"), ["city_id"], unique=False)

    op.create_table(
        "request_department_members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_department_members_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["request_departments.id"],
            name=op.f("fk_request_department_members_department_id_request_departments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_request_department_members_staff_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_department_members")),
        sa.UniqueConstraint(
            "city_id",
            "department_id",
            "staff_id",
            name=op.f("uq_request_department_members_city_id_department_id_staff_id"),
        ),
    )
    with op.batch_alter_table("request_department_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_department_members_city_id"), ["city_id"], unique=False
        )

    op.create_table(
        "request_types",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("group", sa.String(length=60), nullable=False),
        sa.Column("keywords", sa.String(length=400), nullable=False),
        sa.Column(
            "names",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "descriptions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sla_hours", sa.Integer(), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_types_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["request_departments.id"],
            name=op.f("fk_request_types_department_id_request_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_types")),
        sa.UniqueConstraint("city_id", "code", name=op.f("uq_request_types_city_id_code")),
    )
    with op.batch_alter_table("request_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_types_city_id"), ["city_id"], unique=False)

    op.create_table(
        "service_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("type_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "submitted",
                "triaged",
                "assigned",
                "on_hold",
                "resolved",
                "closed",
                "merged",
                name="request_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("district", sa.String(length=60), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "assignee_staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("hold_reason", sa.String(length=500), nullable=True),
        sa.Column("held_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("triage_due_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("warned_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("triaged_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(length=500), nullable=True),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_service_requests_assignee_staff_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_service_requests_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_service_requests_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["request_departments.id"],
            name=op.f("fk_service_requests_department_id_request_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["service_requests.id"],
            name=op.f("fk_service_requests_merged_into_id_service_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_service_requests_resident_id_residents"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["request_types.id"],
            name=op.f("fk_service_requests_type_id_request_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_requests")),
        sa.UniqueConstraint(
            "city_id", "public_id", name=op.f("uq_service_requests_city_id_public_id")
        ),
    )
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_requests_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            "ix_service_requests_resident", ["city_id", "resident_id"], unique=False
        )
        batch_op.create_index(
            "ix_service_requests_status", ["city_id", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_service_requests_type", ["city_id", "type_id", "status"], unique=False
        )

    op.create_table(
        "request_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_events_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_request_events_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_events_city_id"), ["city_id"], unique=False)
        batch_op.create_index(
            "ix_request_events_request", ["city_id", "request_id", "id"], unique=False
        )

    op.create_table(
        "request_followers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_request_followers_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_followers_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_request_followers_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_request_followers_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_followers")),
        sa.UniqueConstraint(
            "city_id",
            "request_id",
            "resident_id",
            name=op.f("uq_request_followers_city_id_request_id_resident_id"),
        ),
    )
    with op.batch_alter_table("request_followers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_followers_city_id"), ["city_id"], unique=False)

    op.create_table(
        "request_photos",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("location_kept", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityhub.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("city_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_request_photos_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_request_photos_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_photos")),
        sa.UniqueConstraint(
            "city_id", "public_id", name=op.f("uq_request_photos_city_id_public_id")
        ),
    )
    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_photos_city_id"), ["city_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_photos_city_id"))

    op.drop_table("request_photos")
    with op.batch_alter_table("request_followers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_followers_city_id"))

    op.drop_table("request_followers")
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index("ix_request_events_request")
        batch_op.drop_index(batch_op.f("ix_request_events_city_id"))

    op.drop_table("request_events")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_service_requests_type")
        batch_op.drop_index("ix_service_requests_status")
        batch_op.drop_index("ix_service_requests_resident")
        batch_op.drop_index(batch_op.f("ix_service_requests_city_id"))

    op.drop_table("service_requests")
    with op.batch_alter_table("request_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_types_city_id"))

    op.drop_table("request_types")
    with op.batch_alter_table("request_department_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_department_members_city_id"))

    op.drop_table("request_department_members")
    with op.batch_alter_table("request_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_settings_city_id"))

    op.drop_table("request_settings")
    with op.batch_alter_table("request_departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_departments_city_id"))

    op.drop_table("request_departments")
    with op.batch_alter_table("request_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_api_keys_city_id"))

    op.drop_table("request_api_keys")
