"""cache versions are announced: the trigger that bumps the counter also sends it on the
`cityhub_cache_versions` channel (NOTIFY, delivered when the change commits), so that each
`cityhub serve` process hears a change at once instead of reading the counter on every
request (platform/cache_listen.py). PostgreSQL only: SQLite's triggers stay as they are.

Revision ID: 0040
Revises: 0038
Create Date: 2026-12-02 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = (
    "INSERT INTO cache_versions (name, version) VALUES ('access', 1) "
    "ON CONFLICT (name) DO UPDATE SET version = cache_versions.version + 1"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The same function every watched table's trigger runs (0022, 0031), now announcing the
    # version it wrote; NOTIFY is delivered at commit, and never for a rolled-back change.
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION cache_version_bump() RETURNS trigger AS $$
        DECLARE
            bumped integer;
        BEGIN
            {BUMP} RETURNING version INTO bumped;
            PERFORM pg_notify('cityhub_cache_versions', bumped::text);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION cache_version_bump() RETURNS trigger AS $$
        BEGIN
            {BUMP};
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )
