"""Progress of long work, on stderr (stdout keeps results, and `--json` its JSON).

One rule for every command: on a terminal a live bar (rich) with the count done and the
time left, and finished steps printed above it as lines that fit the terminal's width;
when stderr is not a terminal, plain lines (the start, at most one every 10 s, the end);
nothing at all when silenced (`--quiet`, `--json`, or `silenced()` from Python).

Lines that must fit are built by `fit`: fields carry a rank, and the lowest ranks are
dropped first until the line fits, so the fields that matter (a validation metric, the
ETA) always show and nothing is cut mid-word.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

_SILENT: ContextVar[bool] = ContextVar("deepnet_progress_silent", default=False)
PLAIN_EVERY = 10.0  # seconds between plain progress lines when stderr is not a terminal
KEEP = 99  # the rank of a field that is never dropped


@contextmanager
def silenced(on: bool = True) -> Iterator[None]:
    """No progress from anything run inside (when `on`)."""
    token = _SILENT.set(_SILENT.get() or on)
    try:
        yield
    finally:
        _SILENT.reset(token)


def is_silent() -> bool:
    return _SILENT.get()


def fit(fields: Sequence[tuple[str, float]], width: int | None, sep: str = "  ") -> str:
    """The fields' texts joined by `sep`, the lowest-ranked dropped first (ties: the
    rightmost first) until the line is at most `width` wide; `width=None` keeps all."""
    kept = list(fields)
    while width is not None and len(sep.join(t for t, _ in kept)) > width:
        droppable = [i for i, (_, rank) in enumerate(kept) if rank < KEEP]
        if not droppable:
            break
        kept.pop(min(droppable, key=lambda i: (kept[i][1], -i)))
    return sep.join(t for t, _ in kept)


def duration(seconds: float) -> str:
    """A short duration: 42s, 3m07s, 2h05m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _console():
    from rich.console import Console

    return Console(stderr=True)


class Bar:
    """A task of `total` steps: `advance()` as they are done, `say(line)` for a line
    above the bar (or a plain line), `width` for the room a line has (None: no limit)."""

    def __init__(self, description: str, total: int | None, unit: str = "",
                 bookends: bool = True):
        self.description, self.total, self.unit = description, total, unit
        self.bookends = bookends  # plain lines at the start and the end
        self.silent = is_silent()
        self.console = None if self.silent else _console()
        self.live = None
        self.done = 0
        self.started = self.last_plain = time.perf_counter()

    @property
    def terminal(self) -> bool:
        return self.console is not None and self.console.is_terminal

    @property
    def width(self) -> int | None:
        return self.console.width if self.terminal else None

    def __enter__(self) -> Bar:
        if self.silent:
            return self
        if self.terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 BarColumn(bar_width=None), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                                 console=self.console, transient=True, expand=True)
            self.task = self.live.add_task(self.description, total=self.total, eta="")
            self.live.start()
        elif self.bookends:
            self._plain(f"{self.description}: started")
        return self

    def advance(self, n: int = 1, eta: float | None = None) -> None:
        """`n` more steps done; `eta`: the seconds left when the caller knows better
        (training: the whole run's, not this epoch's)."""
        self.done += n
        left = self._eta() if eta is None else duration(eta)
        if self.live is not None:
            self.live.update(self.task, advance=n, eta=f"ETA {left}" if left else "")
        elif not self.silent and time.perf_counter() - self.last_plain >= PLAIN_EVERY:
            self._plain(f"{self.description}: {self._count()}  ETA {left or '?'}")

    def describe(self, description: str) -> None:
        """What is being done now (the count goes on)."""
        self.description = description
        if self.live is not None:
            self.live.update(self.task, description=description)

    def restart(self, description: str, total: int | None = None) -> None:
        """The same bar for the next stage (an epoch, an attack): counted from zero."""
        self.description, self.done = description, 0
        self.started = time.perf_counter()
        if total is not None:
            self.total = total
        if self.live is not None:
            self.live.reset(self.task, total=self.total, description=description, eta="")

    def say(self, line: str) -> None:
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False, overflow="ignore",
                                    crop=False, soft_wrap=True)
        elif not self.silent:
            self._plain(line)

    def _eta(self) -> str:
        if not self.total or not self.done:
            return ""
        rate = (time.perf_counter() - self.started) / self.done
        return duration(rate * (self.total - self.done))

    def _count(self) -> str:
        total = f"/{self.total}" if self.total else ""
        return f"{self.done}{total} {self.unit}".rstrip()

    def _plain(self, line: str) -> None:
        self.last_plain = time.perf_counter()
        print(line, file=sys.stderr, flush=True)

    def __exit__(self, kind, error, tb) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        if not self.silent and kind is None and self.bookends and not self.terminal:
            seconds = time.perf_counter() - self.started
            self._plain(f"{self.description}: {self._count()} in {seconds:.1f} s")


def bar(description: str, total: int | None = None, unit: str = "",
        bookends: bool = True) -> Bar:
    """`with bar("attack pgd", total=n, unit="batches") as b: ... b.advance()`;
    `bookends=False`: no plain start and end lines (training has its epoch lines)."""
    return Bar(description, total, unit, bookends)
