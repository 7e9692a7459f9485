"""Finds dead peers with WebSocket pings, one timer for every connection of the process.

Every ``interval`` seconds the heartbeat looks at each connection: one that
sent anything since the last beat is alive; one that did not gets a ping; one
that was pinged at the last beat and still sent nothing (not even the pong) is
dropped.  A dead peer is found within two to three intervals.

Autobahn's own auto-ping keeps timers per connection, batched per factory; with
a factory per game that batches nothing, and under load the timers cost more
than the pings (about 15 % of the server's CPU at 3000 games).
"""

from __future__ import annotations

from twisted.internet import task
from twisted.logger import Logger

log = Logger()


class Heartbeat:
    """Pings quiet connections and drops the silent ones.

    ``reactor`` runs the one timer; ``interval`` is the seconds between beats
    (0 turns the heartbeat off: nothing is watched).
    """

    def __init__(self, reactor, interval: float):
        self._reactor = reactor
        self.interval = interval
        self._connections = set()
        self._loop = None

    def __len__(self) -> int:
        return len(self._connections)

    def add(self, conn) -> None:
        """Watch ``conn`` (it sets ``conn.heard = True`` whenever data arrives)."""
        if self.interval <= 0:
            return
        conn.heard = True
        conn.pinged = False
        self._connections.add(conn)
        if self._loop is None:
            self._loop = task.LoopingCall(self._beat)
            self._loop.clock = self._reactor
            self._loop.start(self.interval, now=False)

    def remove(self, conn) -> None:
        """Stop watching ``conn``; the timer stops with the last connection."""
        self._connections.discard(conn)
        if not self._connections:
            self.stop()

    def stop(self) -> None:
        """Stop the timer (connections added later start it again)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _beat(self) -> None:
        dead = []
        for conn in self._connections:
            if conn.heard:
                conn.heard = False
                conn.pinged = False
            elif conn.pinged:
                dead.append(conn)
            else:
                conn.pinged = True
                conn.ping()
        for conn in dead:
            log.info("dropping a connection that did not answer a ping for {seconds}s", seconds=self.interval)
            self._connections.discard(conn)
            conn.drop()
        if not self._connections:
            self.stop()
