"""A check's work budget: CPU seconds the stages after the fetch may spend on one page.

The fetch is bounded by `deadline` and `max_bytes`; what a body then costs (extract, diff,
classify) is bounded by linear algorithms and caps, and, for whatever those miss, by this
budget. Stages look at it between stages (`enter`) and at checkpoints inside their loops
(`tick`, cheap enough for every iteration); past the budget the check fails with a reason that
names the stage. It counts the CPU time of the checking thread, so a busy machine or a slow
server does not eat into it.

A stage that takes a budget accepts it as a keyword argument, `budget: Budget = UNLIMITED`,
so pure functions stay callable without one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from monitor.errors import WorkBudgetExceeded

_TICKS = 512  # loop iterations between two looks at the clock (a look costs a system call)


class Budget:
    """CPU seconds left for one check; `UNLIMITED` never runs out."""

    __slots__ = ("_clock", "_countdown", "_ends", "seconds", "stage")

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.thread_time):
        self.seconds = seconds
        self.stage = "check"
        self._clock = clock
        self._ends = float("inf") if seconds is None else clock() + seconds
        self._countdown = _TICKS

    def enter(self, stage: str) -> None:
        """A new stage begins and will be named in a failure; stop here if the stages before
        it spent the budget (then they are named)."""
        self.check()
        self.stage = stage

    def check(self) -> None:
        if self._clock() > self._ends:
            raise WorkBudgetExceeded(self.seconds or 0.0, self.stage)

    def tick(self) -> None:
        """A checkpoint inside a loop: looks at the clock every few hundred calls."""
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = _TICKS
            self.check()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """CPU time spent inside is not the page's work (code loaded once per process): not charged."""
        start = self._clock()
        try:
            yield
        finally:
            self._ends += self._clock() - start

    def spent(self) -> float:
        return 0.0 if self.seconds is None else self.seconds - (self._ends - self._clock())


UNLIMITED = Budget(None)
