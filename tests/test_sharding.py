"""The live schema is ready for a sharded PostgreSQL (Citus) that distributes the tenant tables
by `city_id`, as docs/scaling.md lists every table (distributed, reference or local).

Citus's rules, checked on the migrated database (not on the models):

- a distributed table has a NOT NULL `city_id`; its primary key and every unique constraint or
  unique index include it;
- a foreign key from a distributed table to another carries `city_id` on both sides, paired
  with each other; to a reference table anything goes; to a local table nothing does;
- a reference table points only at reference tables; a local table only at reference or local
  tables.

On SQLite the primary key of a tenant table stays `id` by design (SQLite generates ids only
for a one-column INTEGER PRIMARY KEY): there the test asks for the UNIQUE (city_id, id) that
stands in for the key (`platform/db.TenantMixin`) instead of `city_id` in the primary key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from cityhub.platform.db import Database

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
KINDS = ("distributed", "reference", "local")


def listed_tables() -> dict[str, str]:
    """Each table docs/scaling.md lists, and its kind."""
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \|", DOC.read_text(), flags=re.MULTILINE)
    kinds: dict[str, str] = {}
    for table, kind in rows:
        assert kind in KINDS, f"docs/scaling.md: {table} is {kind!r}, not one of {KINDS}"
        assert table not in kinds, f"docs/scaling.md lists {table} twice"
        kinds[table] = kind
    return kinds


def problems(inspector: Any, kinds: dict[str, str]) -> list[str]:
    """Every way the schema the inspector reads breaks Citus's rules for these kinds of table,
    each naming its table."""
    sqlite = inspector.dialect.name == "sqlite"
    found: list[str] = []
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        kind = kinds.get(table)
        if kind is None:
            found.append(f"{table}: not listed as distributed, reference or local")
            continue
        for fk in inspector.get_foreign_keys(table):
            target = fk["referred_table"]
            target_kind = kinds.get(target)
            name = fk.get("name") or f"{fk['constrained_columns']} -> {target}"
            if kind == "distributed" and target_kind == "distributed":
                pairs = dict(zip(fk["constrained_columns"], fk["referred_columns"], strict=True))
                if pairs.get("city_id") != "city_id":
                    found.append(f"{table}: foreign key {name} to {target} lacks city_id")
            elif kind == "distributed" and target_kind == "local":
                found.append(f"{table}: foreign key {name} to the local table {target}")
            elif kind == "reference" and target_kind != "reference":
                found.append(f"{table}: a reference table's foreign key {name} to {target}")
            elif kind == "local" and target_kind == "distributed":
                found.append(f"{table}: a local table's foreign key {name} to {target}")
        if kind != "distributed":
            continue
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        if "city_id" not in columns or columns["city_id"]["nullable"]:
            found.append(f"{table}: no NOT NULL city_id to distribute by")
        key = inspector.get_pk_constraint(table)["constrained_columns"]
        uniques = [u["column_names"] for u in inspector.get_unique_constraints(table)]
        uniques += [i["column_names"] for i in inspector.get_indexes(table) if i["unique"]]
        if "city_id" not in key:
            if not sqlite:
                found.append(f"{table}: primary key {key} without city_id")
            elif key != ["id"] or ["city_id", "id"] not in uniques:
                found.append(f"{table}: primary key {key} without city_id or UNIQUE (city_id, id)")
        for columns_of in uniques:
            if "city_id" not in columns_of:
                found.append(f"{table}: unique {columns_of} without city_id")
    return found


async def live_problems(db: Database, kinds: dict[str, str]) -> list[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda c: problems(inspect(c), kinds))


async def test_docs_scaling_lists_every_table_of_the_schema(db: Database) -> None:
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(listed_tables()) == tables - {"alembic_version"}


async def test_the_live_schema_is_ready_to_distribute_by_city(db: Database) -> None:
    assert await live_problems(db, listed_tables()) == []


def test_the_check_names_each_table_that_breaks_a_rule() -> None:
    engine = create_engine("sqlite://")
    statements = [
        "CREATE TABLE cities (id INTEGER PRIMARY KEY)",
        "CREATE TABLE events (id INTEGER PRIMARY KEY)",
        "CREATE TABLE bills (id INTEGER PRIMARY KEY, city_id INTEGER NOT NULL"
        " REFERENCES cities (id), UNIQUE (city_id, id))",
        "CREATE TABLE nocity (id INTEGER PRIMARY KEY, city_id INTEGER)",
        "CREATE TABLE payments (id INTEGER PRIMARY KEY, city_id INTEGER NOT NULL,"
        " bill_id INTEGER REFERENCES bills (id), event_id INTEGER REFERENCES events (id),"
        " public_id TEXT UNIQUE, UNIQUE (city_id, id))",
        "CREATE TABLE lookups (id INTEGER PRIMARY KEY, bill_id INTEGER REFERENCES bills (id))",
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, bill_id INTEGER REFERENCES bills (id))",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
        kinds = {
            "cities": "reference",
            "events": "local",
            "bills": "distributed",
            "nocity": "distributed",
            "payments": "distributed",
            "lookups": "reference",
        }
        assert sorted(problems(inspect(connection), kinds)) == sorted(
            [
                "lookups: a reference table's foreign key ['bill_id'] -> bills to bills",
                "logs: not listed as distributed, reference or local",
                "nocity: no NOT NULL city_id to distribute by",
                "nocity: primary key ['id'] without city_id or UNIQUE (city_id, id)",
                "payments: foreign key ['event_id'] -> events to the local table events",
                "payments: foreign key ['bill_id'] -> bills to bills lacks city_id",
                "payments: unique ['public_id'] without city_id",
            ]
        )
