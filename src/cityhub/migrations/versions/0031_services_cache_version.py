"""services bump the caches' version: the hospital of a booking and the catalogue's answers
are cached per process, so a change to a service must reach every process as a change to a
city, a channel or a grant does (the same counter, the same trigger function as 0022).
It comes after 0026: on SQLite that migration rebuilds `services`, which drops its triggers.

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-01 20:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERBS = ("INSERT", "UPDATE", "DELETE")
BUMP = (
    "INSERT INTO cache_versions (name, version) VALUES ('access', 1) "
    "ON CONFLICT (name) DO UPDATE SET version = cache_versions.version + 1"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # cache_version_bump() is 0022's; once per statement, as for the other tables.
        op.execute(
            "CREATE TRIGGER services_cache_version AFTER INSERT OR UPDATE OR DELETE "
            "ON services FOR EACH STATEMENT EXECUTE FUNCTION cache_version_bump()"
        )
        return
    for verb in VERBS:
        op.execute(
            f"CREATE TRIGGER services_cache_version_{verb.lower()} AFTER {verb} ON services "
            f"BEGIN {BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS services_cache_version ON services")
        return
    for verb in VERBS:
        op.execute(f"DROP TRIGGER IF EXISTS services_cache_version_{verb.lower()}")
