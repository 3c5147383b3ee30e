"""tenant keys: every tenant table's primary key and unique constraints include city_id, and
foreign keys between tenant tables carry it, as a sharded PostgreSQL (Citus) distributing them
by city requires (docs/scaling.md)

On PostgreSQL the primary key of each tenant table becomes (city_id, id); ids still come from
the table's sequence. SQLite generates ids only for a one-column INTEGER PRIMARY KEY, so there
the key stays `id` and a UNIQUE (city_id, id) is the target of the composite foreign keys.
Every table is rebuilt on SQLite (batch mode); `cityhub.migrations` runs the migrations with
SQLite's foreign key enforcement off and checks every foreign key before it commits.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 17:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tenant tables keyed by an `id` (connector_secrets is keyed by (city_id, name) already).
TABLES = (
    "appt_bookings",
    "appt_departments",
    "appt_patients",
    "appt_practitioners",
    "appt_rules",
    "appt_sessions",
    "appt_slots",
    "appt_waitlist",
    "biller_terms",
    "bills",
    "channel_statements",
    "connector_definitions",
    "grants",
    "ledger_accounts",
    "ledger_entries",
    "ledger_postings",
    "lottery_applications",
    "lottery_rounds",
    "notice_accounts",
    "notice_biller_accounts",
    "notice_deliveries",
    "notice_follows",
    "notice_inbox",
    "notice_push_counts",
    "notice_settings",
    "notice_templates",
    "notice_topics",
    "notices",
    "payments",
    "reconciliation_items",
    "refunds",
    "request_api_keys",
    "request_department_members",
    "request_departments",
    "request_events",
    "request_followers",
    "request_photos",
    "request_settings",
    "request_types",
    "service_requests",
    "services",
    "settlement_batches",
    "usage_daily",
)

# Unique constraints that gain city_id: (table, columns without it).
UNIQUES = (
    ("appt_bookings", ("public_id",)),
    ("appt_bookings", ("checkin_code",)),
    ("appt_sessions", ("public_id",)),
    ("appt_slots", ("public_id",)),
    ("appt_waitlist", ("public_id",)),
    ("lottery_applications", ("application_id",)),
    ("lottery_applications", ("round_id", "resident_id")),
    ("notice_deliveries", ("recipient_id", "route")),
    ("notice_inbox", ("notice_id", "resident_id")),
    ("notices", ("public_id",)),
    ("payments", ("public_id",)),
    ("payments", ("channel_id", "channel_txn_id")),
    ("refunds", ("public_id",)),
    ("request_api_keys", ("key_hash",)),
)

# Foreign keys between tenant tables, which become (city_id, column) -> target (city_id, id):
# (table, column, target, on delete).
FOREIGN_KEYS: tuple[tuple[str, str, str, str | None], ...] = (
    ("appt_bookings", "department_id", "appt_departments", None),
    ("appt_bookings", "payment_id", "payments", None),
    ("appt_bookings", "session_id", "appt_sessions", None),
    ("appt_bookings", "slot_id", "appt_slots", None),
    ("appt_departments", "service_id", "services", "CASCADE"),
    ("appt_practitioners", "department_id", "appt_departments", None),
    ("appt_practitioners", "service_id", "services", "CASCADE"),
    ("appt_sessions", "department_id", "appt_departments", None),
    ("appt_sessions", "practitioner_id", "appt_practitioners", None),
    ("appt_sessions", "service_id", "services", "CASCADE"),
    ("appt_slots", "session_id", "appt_sessions", None),
    ("appt_waitlist", "session_id", "appt_sessions", None),
    ("biller_terms", "service_id", "services", "CASCADE"),
    ("bills", "service_id", "services", None),
    ("grants", "service_id", "services", "CASCADE"),
    ("ledger_entries", "account_id", "ledger_accounts", None),
    ("ledger_entries", "posting_id", "ledger_postings", None),
    ("ledger_postings", "payment_id", "payments", None),
    ("ledger_postings", "refund_id", "refunds", None),
    ("lottery_applications", "round_id", "lottery_rounds", None),
    ("lottery_applications", "service_id", "services", None),
    ("lottery_rounds", "service_id", "services", None),
    ("notice_accounts", "service_id", "services", None),
    ("notice_biller_accounts", "service_id", "services", None),
    ("notice_deliveries", "notice_id", "notices", None),
    ("notice_deliveries", "recipient_id", "notice_inbox", None),
    ("notice_follows", "account_id", "notice_accounts", None),
    ("notice_inbox", "notice_id", "notices", None),
    ("notice_templates", "account_id", "notice_accounts", None),
    ("notice_topics", "account_id", "notice_accounts", None),
    ("notices", "account_id", "notice_accounts", None),
    ("payments", "bill_id", "bills", None),
    ("payments", "service_id", "services", None),
    ("refunds", "payment_id", "payments", None),
    ("request_department_members", "department_id", "request_departments", "CASCADE"),
    ("request_events", "request_id", "service_requests", "CASCADE"),
    ("request_followers", "request_id", "service_requests", "CASCADE"),
    ("request_photos", "request_id", "service_requests", "CASCADE"),
    ("request_types", "department_id", "request_departments", None),
    ("service_requests", "department_id", "request_departments", None),
    ("service_requests", "merged_into_id", "service_requests", None),
    ("service_requests", "type_id", "request_types", None),
    ("settlement_batches", "account_id", "ledger_accounts", None),
    ("settlement_batches", "posting_id", "ledger_postings", None),
)


def _uq(table: str, columns: Sequence[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def _fk(table: str, column: str, target: str) -> str:
    return f"fk_{table}_{column}_{target}"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        _upgrade_sqlite()
    else:
        _upgrade_postgresql()
    # usage_daily's city_id now comes from the TenantMixin, indexed like every tenant table's.
    op.create_index("ix_usage_daily_city_id", "usage_daily", ["city_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_daily_city_id", table_name="usage_daily")
    if _sqlite():
        _downgrade_sqlite()
    else:
        _downgrade_postgresql()


def _upgrade_postgresql() -> None:
    for table, column, target, _ in FOREIGN_KEYS:
        op.drop_constraint(_fk(table, column, target), table, type_="foreignkey")
    for table, columns in UNIQUES:
        op.drop_constraint(_uq(table, columns), table, type_="unique")
        op.create_unique_constraint(_uq(table, ("city_id", *columns)), table, ["city_id", *columns])
    for table in TABLES:
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["city_id", "id"])
    for table, column, target, ondelete in FOREIGN_KEYS:
        op.create_foreign_key(
            _fk(table, column, target),
            table,
            target,
            ["city_id", column],
            ["city_id", "id"],
            ondelete=ondelete,
        )


def _downgrade_postgresql() -> None:
    for table, column, target, _ in FOREIGN_KEYS:
        op.drop_constraint(_fk(table, column, target), table, type_="foreignkey")
    for table in TABLES:
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["id"])
    for table, columns in UNIQUES:
        op.drop_constraint(_uq(table, ("city_id", *columns)), table, type_="unique")
        op.create_unique_constraint(_uq(table, columns), table, list(columns))
    for table, column, target, ondelete in FOREIGN_KEYS:
        op.create_foreign_key(
            _fk(table, column, target), table, target, [column], ["id"], ondelete=ondelete
        )


def _upgrade_sqlite() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always") as batch_op:
            for fk_table, column, target, _ in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.drop_constraint(_fk(table, column, target), type_="foreignkey")
            for uq_table, columns in UNIQUES:
                if uq_table == table:
                    batch_op.drop_constraint(_uq(table, columns), type_="unique")
                    batch_op.create_unique_constraint(
                        _uq(table, ("city_id", *columns)), ["city_id", *columns]
                    )
            batch_op.create_unique_constraint(_uq(table, ("city_id", "id")), ["city_id", "id"])
            for fk_table, column, target, ondelete in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.create_foreign_key(
                        _fk(table, column, target),
                        target,
                        ["city_id", column],
                        ["city_id", "id"],
                        ondelete=ondelete,
                    )


def _downgrade_sqlite() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always") as batch_op:
            for fk_table, column, target, _ in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.drop_constraint(_fk(table, column, target), type_="foreignkey")
            batch_op.drop_constraint(_uq(table, ("city_id", "id")), type_="unique")
            for uq_table, columns in UNIQUES:
                if uq_table == table:
                    batch_op.drop_constraint(_uq(table, ("city_id", *columns)), type_="unique")
                    batch_op.create_unique_constraint(_uq(table, columns), list(columns))
            for fk_table, column, target, ondelete in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.create_foreign_key(
                        _fk(table, column, target), target, [column], ["id"], ondelete=ondelete
                    )
