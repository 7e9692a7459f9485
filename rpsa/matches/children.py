"""The match children, together: spawned and stopped for the launcher and the warm pool alike, counted
against one limit, and heartbeaten (:class:`~rpsa.matches.heartbeat.ChildHeartbeat`).

Each child is a :class:`rpsa.matches.process.MatchProcess`; this module knows
nothing of what a child says, only how many there are and how to stop one.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping, Optional

from twisted.internet.defer import Deferred, TimeoutError, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.matches.heartbeat import ChildHeartbeat
from rpsa.matches.process import ExitStatus, MatchProcess
from rpsa.matches.stdio import encode_line
from rpsa.play.hooks import GameEvents

log = Logger()


class MatchChildren:
    """Spawns and stops match children for the launcher and the warm pool alike, and counts them.

    ``reactor`` spawns and times the children.  ``server_config`` is the
    config every child is sent first (see :mod:`rpsa.matches.stdio`).
    ``launch_timeout`` is the seconds a child has to report its port (the
    launcher and the warm pool each time it).  ``max_children`` is the most
    children alive at once, whether starting, running or still being stopped:
    the limit is on processes.  ``kill_grace`` is the seconds between SIGTERM
    and SIGKILL.  ``python`` is the interpreter run as ``python -m
    rpsa.matches.child``.  ``env`` is the children's environment (default: a
    copy of ``os.environ`` taken at each spawn).  ``heartbeat`` is the seconds
    between heartbeats to each child (see :class:`~rpsa.matches.heartbeat.ChildHeartbeat`; 0: none).
    ``events``: the :class:`~rpsa.play.hooks.GameEvents` the children's games report to (None:
    the children are not asked for their events).
    """

    def __init__(
        self,
        reactor,
        server_config: dict,
        launch_timeout: float = 10.0,
        max_children: int = 100,
        kill_grace: float = 5.0,
        python: str = sys.executable,
        env: Optional[Mapping[str, str]] = None,
        heartbeat: float = 0.0,
        events: Optional[GameEvents] = None,
    ):
        self.reactor = reactor
        self._heartbeat = ChildHeartbeat(reactor, heartbeat)
        self.launch_timeout = launch_timeout
        self.max_children = max_children
        self.kill_grace = kill_grace
        self._events = events
        self._config_line = encode_line(server_config if events is None else dict(server_config, events=True))
        self._python = python
        self._env = None if env is None else dict(env)
        self._alive = 0

    @property
    def room(self) -> int:
        """How many more children may be spawned now (0 or less: none)."""
        return self.max_children - self._alive

    def spawn(self, process: MatchProcess) -> None:
        """Start ``process``'s child and write it the config line; it counts until it has ended.

        Exceptions from spawning propagate; a child that started anyway
        (``process.transport`` is set) counts all the same.
        """
        try:
            env = dict(os.environ) if self._env is None else dict(self._env)
            process.spawn(self._python, env, self._config_line, self._events)
        finally:
            if process.transport is not None:
                self._alive += 1
                self._heartbeat.add(process)
                process.when_ended().addCallback(self._ended, process)

    def _ended(self, status: ExitStatus, process: MatchProcess) -> None:
        self._alive -= 1
        self._heartbeat.remove(process)

    def responsive(self, process: MatchProcess) -> bool:
        """Whether ``process`` answered within about one heartbeat (a warm child is checked before it is used)."""
        return self._heartbeat.responsive(process)

    def terminate(self, process: MatchProcess) -> Deferred:
        """Send ``process`` SIGTERM, SIGKILL after ``kill_grace``; return :meth:`MatchProcess.when_ended`."""
        return process.terminate(self.kill_grace)

    def stop(self, process: MatchProcess) -> Deferred:
        """:meth:`terminate`, bounded: fires within ``2 * kill_grace`` and never fails (failures logged)."""
        name, pid = process.name, process.pid
        d = maybeDeferred(self.terminate, process)
        d.addTimeout(2 * self.kill_grace, self.reactor)
        d.addErrback(self._stop_failed, name, pid)
        return d

    def _stop_failed(self, failure: Failure, name: str, pid) -> None:
        if failure.check(TimeoutError):
            log.error("{name}: child {pid} did not end after SIGKILL; giving up on it", name=name, pid=pid)
        else:
            log.failure("{name}: stopping child {pid} failed", failure, name=name, pid=pid)
