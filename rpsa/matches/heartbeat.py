"""Hung match children noticed: the daemon's heartbeat on the stdio protocol (:mod:`rpsa.matches.stdio`).

A child that has reported its port gets a heartbeat line every ``interval``
seconds and answers it at once; any line it writes shows it alive.  One that
writes nothing for ``HEARTBEATS_MISSED`` intervals (stopped with SIGSTOP,
deadlocked, swapped out for good) is killed with SIGKILL
(:meth:`~rpsa.matches.process.MatchProcess.kill_hung`: SIGTERM would wait on a
stopped process), and whoever owns it treats it like a dead child: the
launcher fails its match with reason ``unresponsive``, the warm pool replaces
it.  A warm child is also checked (:meth:`ChildHeartbeat.responsive`) before it
is handed a match.  One timer for every child, running only while children do.
"""

from __future__ import annotations

from typing import List

from twisted.internet import task

from rpsa.matches.stdio import HEARTBEATS_MISSED


class ChildHeartbeat:
    """Sends heartbeats to the children added, every ``interval`` seconds on ``reactor`` (0: never)."""

    def __init__(self, reactor, interval: float):
        self._reactor = reactor
        self.interval = interval
        self._processes: List = []
        self._loop = None
        self._beats = 0

    def add(self, process) -> None:
        """Watch ``process`` (a :class:`~rpsa.matches.process.MatchProcess`) from its port on."""
        self._processes.append(process)
        if self.interval > 0 and self._loop is None:
            self._loop = task.LoopingCall(self._beat)
            self._loop.clock = self._reactor
            self._loop.start(self.interval, now=False)

    def remove(self, process) -> None:
        """Stop watching ``process`` (it has ended); the timer stops with the last one."""
        self._processes.remove(process)
        if not self._processes and self._loop is not None:
            self._loop.stop()
            self._loop = None

    def responsive(self, process) -> bool:
        """Whether ``process`` wrote a line within about one heartbeat (always, with heartbeats off)."""
        return self.interval <= 0 or process.silent_for() <= 2 * self.interval

    def _beat(self) -> None:
        self._beats += 1
        limit = HEARTBEATS_MISSED * self.interval
        for process in list(self._processes):
            if process.port is None:
                continue  # still starting: the launch timeout watches it
            silence = process.silent_for()
            if silence > limit:
                process.kill_hung(silence)
            else:
                process.heartbeat(self._beats)
