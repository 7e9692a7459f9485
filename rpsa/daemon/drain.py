"""Graceful drain: stop taking work, let running matches finish, then stop.

:class:`DrainState` says whether the server drains; makeService gives the one
instance to the lobby, the match API and the root app, which read its
``active`` attribute (duck-typed: they import nothing from here).

On SIGTERM the service asks a :class:`Drainer` to drain: the state becomes
active, ``/healthz`` answers 503 ``draining``, new games and matches are
refused, games and matches still waiting for players are closed at once, and
matches already playing run to their end, for at most ``timeout`` seconds.
:meth:`Drainer.hurry` (a second SIGTERM or SIGINT) ends the wait at once.
"""

from __future__ import annotations

from twisted.internet import defer, task
from twisted.logger import Logger

from rpsa.matches.stdio import LIVE_STATES, UNSTARTED_STATES
from rpsa.play import wire
from rpsa.rules import GameState

log = Logger()

POLL_INTERVAL = 0.2


class DrainState:
    """Whether the server drains: ``active`` is true from the start of a drain on."""

    def __init__(self):
        self.active = False


class Drainer:
    """Drains a lobby and a launcher; :meth:`drain` fires once nothing is playing, or at the timeout.

    ``reactor``: time (``callLater``); ``state``: the :class:`DrainState` it
    activates; ``lobby``: the :class:`~rpsa.lobby.games.Lobby`; ``launcher``:
    the match launcher (``list()`` and ``stop(match_id)``); ``timeout``: the
    most seconds :meth:`drain` waits for running games and matches.
    """

    def __init__(self, reactor, state: DrainState, lobby, launcher, timeout: float):
        self._reactor = reactor
        self.state = state
        self.lobby = lobby
        self.launcher = launcher
        self.timeout = timeout
        self._done = None
        self._poll = None
        self._timer = None

    def drain(self) -> defer.Deferred:
        """Begin draining (once); fires with True if everything finished, False at the timeout or when hurried."""
        if self._done is not None:
            return self._chained()
        self._done = defer.Deferred()
        self.state.active = True
        log.info("draining: new games and matches refused; waiting for up to {timeout}s", timeout=self.timeout)
        for session in list(self.lobby.games.values()):
            if session.engine.state < GameState.IN_PROGRESS:
                session.close(wire.SHUTTING_DOWN, wire.CLOSE_REASONS[wire.SHUTTING_DOWN])
        for record in self.launcher.list():
            if record.state in UNSTARTED_STATES:
                self.launcher.stop(record.match_id)
        self._poll = task.LoopingCall(self._check)
        self._poll.clock = self._reactor
        self._poll.start(POLL_INTERVAL, now=True)
        if not self._done.called:
            self._timer = self._reactor.callLater(self.timeout, self._finish, False)
        return self._chained()

    def hurry(self) -> None:
        """Stop waiting for running matches (a second signal)."""
        if self._done is not None and not self._done.called:
            log.info("draining cut short")
            self._finish(False)

    def running_matches(self) -> int:
        """How many launched matches are live."""
        return sum(1 for r in self.launcher.list() if r.state in LIVE_STATES)

    def busy(self) -> int:
        """How many games and matches are still running."""
        return len(self.lobby.games) + self.running_matches()

    def _check(self) -> None:
        if self.busy() == 0:
            self._finish(True)

    def _finish(self, complete: bool) -> None:
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if not self._done.called:
            if complete:
                log.info("drained: every match has ended")
            else:
                log.info("drain over with {busy} games or matches still running", busy=self.busy())
            self._done.callback(complete)

    def _chained(self) -> defer.Deferred:
        d = defer.Deferred()
        self._done.addBoth(lambda result: (d.callback(result), result)[1])
        return d
