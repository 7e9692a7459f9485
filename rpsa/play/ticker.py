"""One scheduler ticks every running game: a heap of due times behind a single timer.

Games start at arbitrary moments, so each keeps its own phase: a game started at
``t`` ticks at ``t + k × interval``.  The scheduler keeps one reactor timer, set
for the earliest due game, and runs every game due by then in one pass.  This
costs one timer instead of one per game, and lets it measure how late each tick
runs (the server's saturation signal).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Dict, List, Optional, Protocol, Tuple

from twisted.logger import Logger

from rpsa.play.hooks import ServerHooks

log = Logger()


class Tickable(Protocol):
    """Something the scheduler ticks."""

    def tick(self) -> None:
        """Advance by one tick."""


class TickScheduler:
    """Ticks registered objects every ``interval`` seconds, each on its own phase.

    ``reactor`` gives the time and holds the single timer; ``interval``: seconds
    between an item's ticks; ``hooks``: a :class:`~rpsa.play.hooks.ServerHooks`
    told how late each tick ran (``tick_lag``), or None.
    """

    def __init__(self, reactor, interval: float, hooks: Optional[ServerHooks] = None):
        self._reactor = reactor
        self.interval = interval
        self._on_lag = hooks.tick_lag if hooks is not None else None
        self._heap: List[Tuple[float, int, Tickable]] = []
        self._due: Dict[Tickable, float] = {}
        self._seq = itertools.count()
        self._timer = None
        self._timer_due: Optional[float] = None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, item: Tickable) -> bool:
        return item in self._due

    def add(self, item: Tickable) -> None:
        """Tick ``item`` every interval from now on (first tick one interval from now)."""
        due = self._reactor.seconds() + self.interval
        self._due[item] = due
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._arm()

    def remove(self, item: Tickable) -> None:
        """Stop ticking ``item`` (its heap entry is dropped lazily)."""
        self._due.pop(item, None)
        if not self._due:
            self._heap.clear()
            self._disarm()

    def stop(self) -> None:
        """Forget every item and cancel the timer."""
        self._due.clear()
        self._heap.clear()
        self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._timer_due = None

    def _arm(self) -> None:
        heap = self._heap
        if not heap:
            self._disarm()
            return
        due = heap[0][0]
        if self._timer is not None and self._timer.active():
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self._reactor.callLater(max(0.0, due - self._reactor.seconds()), self._run)

    def _run(self) -> None:
        self._timer = None
        self._timer_due = None
        now = self._reactor.seconds()
        heap, dues, interval, on_lag = self._heap, self._due, self.interval, self._on_lag
        # Every entry due now (or within a millisecond) runs in this pass; an item
        # re-added during the pass is due one interval later, so the loop ends.
        limit = now + 0.001
        while heap and heap[0][0] <= limit:
            due, _, item = heapq.heappop(heap)
            if dues.get(item) != due:
                continue  # removed, or re-added with another due time
            following = due + interval
            if following <= now:
                # Far behind (the process stalled): keep the phase, skip the missed ticks.
                following = now + interval - ((now - due) % interval)
            dues[item] = following
            heapq.heappush(heap, (following, next(self._seq), item))
            if on_lag is not None:
                on_lag(now - due)
            try:
                item.tick()
            except Exception:
                log.failure("tick failed for {item!r}", item=item)
                self.remove(item)
        self._arm()
