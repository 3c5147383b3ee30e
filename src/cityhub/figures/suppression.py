"""Small-cell suppression of the published figures, with complementary suppression.

Primary: a cell counting fewer than `THRESHOLD` distinct people is not published (any of its
values: people, uses, successes, fees).

Complementary: the published tables are margins of one another (the uses of a service are the
sum of its uses per channel, district and day), so a lone suppressed cell could be found again
by subtracting the published cells of its group from the published total. For every pair of
tables where one is a margin of the other, every group of the finer table that adds up to a
published cell of the coarser one holds either no suppressed cell or at least two: when a
group has exactly one, the group's smallest published cell is suppressed as well (or, if the
group has no other cell, the total itself). This repeats until nothing changes, since one
suppression can leave a lone cell in another group.

What it does not do: solve the whole system of tables as a linear program (as tau-Argus's
optimal methods do). Two suppressed cells of a group are known together (their sum), never
apart; an attacker combining several groups' sums could in principle narrow a cell further.
`docs/figures.md` says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

THRESHOLD = 10
Key = tuple[str | int | None, ...]


@dataclass
class Cell:
    """One figure: distinct people, uses, successful uses, fees; whether it is published."""

    people: int
    uses: int
    successes: int = 0
    fee_fen: int = 0
    suppressed: bool = False
    reason: str | None = None  # small | complementary


@dataclass
class Table:
    """The cells of one grouping (its dimensions, in order)."""

    dims: tuple[str, ...]
    cells: dict[Key, Cell] = field(default_factory=dict)


def suppress(tables: Sequence[Table], threshold: int = THRESHOLD) -> None:
    """Mark the cells that may not be published, in place."""
    for table in tables:
        for cell in table.cells.values():
            if cell.people < threshold:
                cell.suppressed, cell.reason = True, "small"
    pairs = [
        (fine, coarse) for fine in tables for coarse in tables if set(coarse.dims) < set(fine.dims)
    ]
    changed = True
    while changed:
        changed = False
        for fine, coarse in pairs:
            changed |= _protect(fine, coarse)


def _protect(fine: Table, coarse: Table) -> bool:
    """Suppress complements so that no published cell of `coarse` has exactly one suppressed
    cell among the cells of `fine` that add up to it."""
    at = [fine.dims.index(d) for d in coarse.dims]
    groups: dict[Key, list[tuple[Key, Cell]]] = defaultdict(list)
    for key, cell in fine.cells.items():
        groups[tuple(key[i] for i in at)].append((key, cell))
    changed = False
    for group_key, members in groups.items():
        total = coarse.cells.get(group_key)
        if total is None or total.suppressed:
            continue
        if sum(1 for _, cell in members if cell.suppressed) != 1:
            continue
        shown = [(key, cell) for key, cell in members if not cell.suppressed]
        if shown:
            _, victim = min(shown, key=lambda m: (m[1].uses, m[1].people, repr(m[0])))
        else:
            victim = total
        victim.suppressed, victim.reason = True, "complementary"
        changed = True
    return changed


def lone_suppressions(tables: Sequence[Table]) -> list[tuple[tuple[str, ...], Key]]:
    """The published cells whose group in a finer table holds exactly one suppressed cell
    (what `suppress` leaves none of; the tests' check)."""
    found = []
    for fine in tables:
        for coarse in tables:
            if not set(coarse.dims) < set(fine.dims):
                continue
            at = [fine.dims.index(d) for d in coarse.dims]
            hidden: dict[Key, int] = defaultdict(int)
            for key, cell in fine.cells.items():
                hidden[tuple(key[i] for i in at)] += cell.suppressed
            for group_key, count in hidden.items():
                total = coarse.cells.get(group_key)
                if count == 1 and total is not None and not total.suppressed:
                    found.append((coarse.dims, group_key))
    return found
