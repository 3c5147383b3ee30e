"""No published figure has a cell under the threshold, and none can be found again by
subtracting the published cells of its group from a published total (property test)."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.figures.service import DIMS, TABLES
from cityhub.figures.suppression import THRESHOLD, Cell, Table, lone_suppressions, suppress

# (day, pillar, service, channel, district, person): few values each, so cells of every size.
FACT = st.tuples(
    st.sampled_from(["2026-11-01", "2026-11-02", "2026-11-03"]),
    st.sampled_from(["payments", "lottery"]),
    st.sampled_from([1, 2, 3]),
    st.sampled_from([None, 1, 2]),
    st.sampled_from([None, "huangpu", "xuhui"]),
    st.integers(min_value=0, max_value=60),
)


def tables_of(facts: list[tuple[object, ...]]) -> list[Table]:
    """What the database's GROUP BYs give: distinct people and uses per cell of each table."""
    tables = []
    for dims in TABLES:
        people: dict[tuple[object, ...], set[object]] = defaultdict(set)
        uses: dict[tuple[object, ...], int] = defaultdict(int)
        for fact in facts:
            key = tuple(fact[DIMS.index(d)] for d in dims)
            people[key].add(fact[-1])
            uses[key] += 1
        tables.append(
            Table(dims, {k: Cell(len(people[k]), uses[k], uses[k]) for k in uses})  # type: ignore[misc]
        )
    return tables


@settings(max_examples=300, deadline=None)
@given(st.lists(FACT, max_size=400))
def test_no_published_cell_is_small_or_recoverable(facts: list[tuple[object, ...]]) -> None:
    tables = tables_of(facts)
    suppress(tables)
    for table in tables:
        for cell in table.cells.values():
            assert cell.suppressed or cell.people >= THRESHOLD
    assert lone_suppressions(tables) == []
    # The attack itself: a published total minus the published cells of its group leaves
    # either nothing, or the sum of two suppressed cells or more, never one cell's value.
    for fine in tables:
        for coarse in tables:
            if not set(coarse.dims) < set(fine.dims):
                continue
            at = [fine.dims.index(d) for d in coarse.dims]
            for key, total in coarse.cells.items():
                if total.suppressed:
                    continue
                group = [c for k, c in fine.cells.items() if tuple(k[i] for i in at) == key]
                hidden = [c for c in group if c.suppressed]
                assert total.uses == sum(c.uses for c in group)
                assert len(hidden) != 1


def test_a_lone_small_cell_takes_its_smallest_neighbour_with_it() -> None:
    fine = Table(("channel",), {(1,): Cell(3, 3), (2,): Cell(12, 40), (3,): Cell(11, 20)})
    total = Table((), {(): Cell(26, 63)})
    suppress([fine, total])
    assert [k for k, c in fine.cells.items() if c.suppressed] == [(1,), (3,)]
    assert fine.cells[(3,)].reason == "complementary" and not total.cells[()].suppressed


def test_a_group_of_one_small_cell_suppresses_its_total() -> None:
    fine = Table(("channel",), {(1,): Cell(3, 3)})
    total = Table((), {(): Cell(3, 3)})
    suppress([fine, total])
    assert total.cells[()].suppressed
