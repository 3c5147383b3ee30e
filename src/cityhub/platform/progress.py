"""Progress of long work, told by the work and shown by whoever runs it.

A function that takes a while accepts `progress: Progress = NO_PROGRESS` and calls it as it
goes: `progress(total=n)` once it knows how much there is, `progress(advance=1)` per piece,
`progress(what="...")` when it moves to another part. The CLI passes a Rich progress bar
(`bar`), the API and the workers nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import (
    Progress as RichProgress,
)


class Progress(Protocol):
    """What long work calls to tell how far it is."""

    def __call__(
        self, *, advance: int = 0, total: int | None = None, what: str | None = None
    ) -> None: ...


def _none(*, advance: int = 0, total: int | None = None, what: str | None = None) -> None:
    return None


NO_PROGRESS: Progress = _none


class _Bar:
    def __init__(self, rich: RichProgress, task: TaskID) -> None:
        self.rich, self.task = rich, task

    def __call__(
        self, *, advance: int = 0, total: int | None = None, what: str | None = None
    ) -> None:
        if total is not None:
            self.rich.update(self.task, total=total, completed=0)
        if what is not None:
            self.rich.update(self.task, description=what)
        if advance:
            self.rich.advance(self.task, advance)


@contextmanager
def bar(description: str, *, console: Console | None = None) -> Iterator[Progress]:
    """A progress bar on stderr (so the output stays for scripts) while the block runs."""
    rich = RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with rich:
        yield _Bar(rich, rich.add_task(description, total=None))
