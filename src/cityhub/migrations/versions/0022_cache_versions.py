"""cache versions: a counter that every change to cities, channels and grants bumps in its own
transaction (triggers), so that each process knows when its caches of them went stale

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("cities", "channels", "grants")
VERBS = ("INSERT", "UPDATE", "DELETE")
BUMP = (
    "INSERT INTO cache_versions (name, version) VALUES ('access', 1) "
    "ON CONFLICT (name) DO UPDATE SET version = cache_versions.version + 1"
)


def upgrade() -> None:
    op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_versions")),
    )
    op.execute("INSERT INTO cache_versions (name, version) VALUES ('access', 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION cache_version_bump() RETURNS trigger AS $$
            BEGIN
                {BUMP};
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table in WATCHED:
            # Once per statement: a statement that changes many rows bumps once.
            op.execute(
                f"CREATE TRIGGER {table}_cache_version AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION cache_version_bump()"
            )
        return
    for table in WATCHED:
        for verb in VERBS:
            op.execute(
                f"CREATE TRIGGER {table}_cache_version_{verb.lower()} AFTER {verb} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_cache_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cache_version_bump()")
    else:
        for table in WATCHED:
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_cache_version_{verb.lower()}")
    op.drop_table("cache_versions")
