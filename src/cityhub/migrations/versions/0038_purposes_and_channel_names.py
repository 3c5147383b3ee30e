"""purposes as codes and channels' names in the hub's languages: a code (and its particulars)
beside each data access's and consent's purpose, the access's actor's names, and a JSON column
of translations beside each channel's name (as 0026 did for other content)

The accesses and consents written before get the code of the English sentence the hub wrote
for them (identity.purposes.from_text); a channel's own words keep no code and are shown as
they are.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-02 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The purposes the hub itself gave consents before they had codes (portal, notices API, demo).
CONSENT_TEXTS = {
    "verify my identity on the CityHub portal": "verification",
    "实名认证 real-name verification": "verification",
    "look up my records on the CityHub portal": "records",
    "查询本人记录 look up my own records": "records",
    "notices and reminders from the government accounts the user follows": "notices",
}
BATCH = 1000


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Columns added in place, not by batch mode: SQLite's batch rebuilds a table, and the
    # rebuild of `channels` would lose the trigger that bumps the cache version (0022).
    op.add_column(
        "channels", sa.Column("names", _json(), nullable=False, server_default=sa.text("'{}'"))
    )
    op.add_column("consents", sa.Column("purpose_code", sa.String(40), nullable=True))
    for column in ("actor_names", "purpose_args"):
        op.add_column(
            "data_access",
            sa.Column(column, _json(), nullable=False, server_default=sa.text("'{}'")),
        )
    op.add_column("data_access", sa.Column("purpose_code", sa.String(40), nullable=True))
    consents = sa.table("consents", sa.column("purpose", sa.String), sa.column("purpose_code"))
    for text, code in CONSENT_TEXTS.items():
        op.execute(consents.update().where(consents.c.purpose == text).values(purpose_code=code))
    _code_accesses()


def _code_accesses() -> None:
    """Give the accesses noted before their purpose's code, a batch at a time."""
    from cityhub.identity.purposes import from_text

    access = sa.table(
        "data_access",
        sa.column("id", sa.BigInteger),
        sa.column("purpose", sa.String),
        sa.column("fields", sa.String),
        sa.column("purpose_code", sa.String),
        sa.column("purpose_args", sa.JSON),
    )
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(access.c.id, access.c.purpose, access.c.fields)
            .where(access.c.id > after)
            .order_by(access.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            code, args = from_text(row.purpose, row.fields)
            if code is not None:
                bind.execute(
                    access.update()
                    .where(access.c.id == row.id)
                    .values(purpose_code=code.value, purpose_args=args)
                )
        after = rows[-1].id


def downgrade() -> None:
    for column in ("purpose_code", "purpose_args", "actor_names"):
        op.drop_column("data_access", column)
    op.drop_column("consents", "purpose_code")
    op.drop_column("channels", "names")
