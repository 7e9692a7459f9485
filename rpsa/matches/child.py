"""The match child: ``python -m rpsa.matches.child`` serves one match on its own port, then exits.

It is spawned by the daemon (:mod:`rpsa.matches.process`) and talks to it over
stdio; :mod:`rpsa.matches.stdio` is that protocol (both directions) and its only
description.  :class:`ControlProtocol` is the child's end of stdio;
:class:`MatchRunner` binds the port, owns the match's session and reports.

Players connect to ``ws://HOST:N/ws?token=T``, spectators to ``ws://HOST:N/ws``.
Either player may connect first; if both are not connected within the join
timeout the match ends with reason ``abandoned``.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional

from twisted.internet import defer, error, stdio
from twisted.internet.protocol import Protocol
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.web.resource import Resource

from rpsa.matches.stdio import (
    EXIT_BAD_INPUT, EXIT_OK, HEARTBEAT, PLAYING, PORT, RESULT, STATUS, WAITING,
    ChildError, LineBuffer, decode_config, decode_heartbeat, decode_match, error_report, event_report, json_report,
    report_line,
)
from rpsa.play import wire
from rpsa.play.frames import FramePreparer
from rpsa.play.heartbeat import Heartbeat
from rpsa.play.hooks import GameEvents, RelayedEvents, ServerHooks
from rpsa.play.session import GameSession, SessionOwner
from rpsa.play.settings import GameSettings
from rpsa.bots.roster import Bots
from rpsa.play.ticker import TickScheduler
from rpsa.play.websocket import GameConnectionFactory, SessionFactory, make_resource
from rpsa.rules import GameState
from rpsa.site import make_site

log = Logger()

CLOSE_WAIT = 3.0  # seconds to let connections finish closing before exiting
FLUSH_WAIT = 2.0  # seconds to let stdout drain before exiting anyway


class ChildControl:
    """What a :class:`MatchRunner` needs from its end of stdio; every method is a no-op here."""

    def report(self, line: bytes) -> None:
        """Write ``line`` (see :mod:`rpsa.matches.stdio`) to the daemon."""

    def exit(self, status: int) -> None:
        """Stop the process with exit ``status``."""


class _ConnectionTracker(ServerHooks):
    """Keeps the set of open connections, to wait for them before exiting."""

    def __init__(self):
        self.open = set()

    def opened(self, conn) -> None:
        self.open.add(conn)

    def closed(self, conn) -> None:
        self.open.discard(conn)


class MatchRunner(SessionOwner):
    """Runs one match: binds the port, owns the session, reports to the daemon.

    ``reactor`` runs everything; ``control`` (a :class:`ChildControl`) writes
    the reports and stops the process.
    """

    def __init__(self, reactor, control: ChildControl):
        self._reactor = reactor
        self._control = control
        self.settings: Optional[GameSettings] = None
        self.config: Optional[Dict[str, Any]] = None
        self.session: Optional[GameSession] = None
        self.port = None
        self._scheduler = None
        self._tracker = _ConnectionTracker()
        self._root = Resource()
        self._last_status = None
        self._ending = False
        self._events = GameEvents()  # RelayedEvents once the config asks for them
        self._removed = False

    # -- setup ---------------------------------------------------------------

    @defer.inlineCallbacks
    def configure(self, config: Dict[str, Any]):
        """Bind the first free port in the configured range and report it."""
        self.config = config
        self.settings = GameSettings.from_json(config)
        if config.get("events") is True:
            self._events = RelayedEvents(lambda name, args: self._control.report(event_report(name, args)))
        self._scheduler = TickScheduler(self._reactor, self.settings.tick)
        self._heartbeat = Heartbeat(self._reactor, self.settings.ping_interval)
        self._frames = FramePreparer()
        site = make_site(self._root, self._reactor, header_timeout=config.get("header_timeout", 10.0),
                         body_timeout=config.get("body_timeout", 30.0))
        low, high = config["ports"]
        interface = config.get("interface", "127.0.0.1")
        for port in range(low, high + 1):
            try:
                self.port = self._reactor.listenTCP(port, site, interface=interface)
            except error.CannotListenError:
                continue
            self._control.report(report_line(PORT, str(port)))
            log.info("match child listening on {interface}:{port}", interface=interface, port=port)
            return port
        raise ChildError("no_free_port", f"no free port in {low}-{high}")
        yield  # pragma: no cover - keeps this a generator

    def assign(self, match: Dict[str, Any]) -> None:
        """Start waiting for this match's players."""
        bots = Bots(self._reactor) if self.settings.bot_takeover is not None else None  # --bot-takeover
        session = GameSession(
            match["match_id"], match["rounds"], self._reactor, self.settings,
            self._scheduler, self._frames, owner=self, host_first=False, bots=bots, events=self._events,
        )
        factory = GameConnectionFactory(self._reactor, self.settings, self._tracker, self._heartbeat)
        for player in match["players"]:
            session.add_seat(player["user_id"], player["username"], player["token"])
        self.session = session
        self._root.putChild(b"ws", make_resource(SessionFactory(factory, session)))
        log.info("match {match_id} waiting for its players", match_id=session.game_id)
        self._status()
        return factory

    # -- SessionOwner ----------------------------------------------------------

    def seat_lost(self, session: GameSession, seat) -> None:
        log.info("match {match_id} abandoned: player {seat} did not come back", match_id=session.game_id, seat=seat.number)
        self._result({"reason": "abandoned", "user_id": seat.user_id})
        session.close(wire.GAME_ABANDONED, wire.CLOSE_REASONS[wire.GAME_ABANDONED])

    def session_changed(self, session: GameSession) -> None:
        self._status()

    def session_completed(self, session: GameSession) -> None:
        engine = session.engine
        result = {
            "winner": engine.winner_id,
            "loser": engine.loser_id,
            "round_wins": {seat.user_id: engine.round_wins[seat.number - 1] for seat in session.seats},
        }
        if session.finished_by_bot:
            result["finished_by_bot"] = list(session.finished_by_bot)
        self._result(result)
        self._game_removed(session)

    def session_closed(self, session: GameSession) -> None:
        self._game_removed(session)
        self._finish(EXIT_OK)

    def _game_removed(self, session: GameSession) -> None:
        if not self._removed:  # once: at GAME_COMPLETE, or when the match ends otherwise
            self._removed = True
            self._events.game_removed(session.game_id)

    # -- reporting and exit ----------------------------------------------------

    def _status(self) -> None:
        session = self.session
        if session is None or self._ending:
            return
        state = PLAYING if session.engine.state >= GameState.IN_PROGRESS else WAITING
        status = {"state": state, "players": [{"user_id": s.user_id, "connected": s.connected} for s in session.seats]}
        if status != self._last_status:
            self._last_status = status
            self._control.report(json_report(STATUS, status))

    def _result(self, result: Dict[str, Any]) -> None:
        if not self._ending:
            self._ending = True
            self._control.report(json_report(RESULT, result))

    def daemon_gone(self) -> None:
        """stdin closed: the daemon is gone, so is this match."""
        log.info("the daemon is gone; stopping")
        if self.session is not None and not self.session.closed:
            self.session.close(wire.SHUTTING_DOWN, wire.CLOSE_REASONS[wire.SHUTTING_DOWN])
        else:
            self._finish(EXIT_OK)

    def shutdown(self) -> Optional[defer.Deferred]:
        """Before the reactor stops (SIGTERM): close every connection, bounded."""
        if self.session is not None and not self.session.closed:
            self._result({"reason": "stopped"})
            self.session.close(wire.SHUTTING_DOWN, wire.CLOSE_REASONS[wire.SHUTTING_DOWN])
        return self._closed_connections()

    def _closed_connections(self) -> defer.Deferred:
        waits = [conn.is_closed for conn in list(self._tracker.open)]
        d = defer.DeferredList(waits, consumeErrors=True)
        d.addTimeout(CLOSE_WAIT, self._reactor)
        d.addErrback(lambda _: None)
        return d

    def _finish(self, status: int) -> None:
        self._closed_connections().addCallback(lambda _: self._control.exit(status))


class ControlProtocol(Protocol, ChildControl):
    """The child's end of stdio (``reactor`` runs it): config and match lines in, reports out."""

    def __init__(self, reactor):
        self._reactor = reactor
        self.runner = MatchRunner(reactor, self)
        self._stdin = LineBuffer()
        self._lines = 0
        self.exit_status = EXIT_OK
        self._exiting = False

    def connectionMade(self):
        self._reactor.addSystemEventTrigger("before", "shutdown", self.runner.shutdown)

    def report(self, line: bytes) -> None:
        """One line to the daemon."""
        self.transport.write(line)

    def dataReceived(self, data: bytes) -> None:
        for line in self._stdin.feed(data):
            if self._exiting:
                return
            if line is None:
                self._fail(ChildError("bad_input", "a stdin line is too long", EXIT_BAD_INPUT))
            else:
                self._line_received(line)

    def _line_received(self, line: bytes) -> None:
        if self._lines >= 1:
            number = decode_heartbeat(line)
            if number is not None:
                self.report(report_line(HEARTBEAT, str(number)))
                return
        self._lines += 1
        try:
            if self._lines == 1:
                d = self.runner.configure(decode_config(line))
                d.addErrback(self._failed)
            elif self._lines == 2:
                self.runner.assign(decode_match(line))
        except ChildError as e:
            self._fail(e)

    def _failed(self, failure):
        if failure.check(ChildError):
            self._fail(failure.value)
        else:
            log.failure("match child failed", failure)
            self._fail(ChildError("internal_error", str(failure.value)))

    def _fail(self, e: ChildError) -> None:
        self.report(error_report(e))
        self.exit(e.exit_status)

    def connectionLost(self, reason):
        if self._exiting:
            self._stop_reactor()
        else:
            self.runner.daemon_gone()

    def exit(self, status: int) -> None:
        """Flush stdout, then stop the reactor; the process exits with ``status``."""
        if self._exiting:
            return
        self._exiting = True
        self.exit_status = status
        self.transport.loseConnection()  # flushes what is buffered, then connectionLost
        self._reactor.callLater(FLUSH_WAIT, self._stop_reactor)

    def _stop_reactor(self) -> None:
        if self._reactor.running:
            self._reactor.stop()


def main() -> int:
    """Entry point of ``python -m rpsa.matches.child``."""
    from twisted.internet import reactor

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    control = ControlProtocol(reactor)
    stdio.StandardIO(control, reactor=reactor)
    reactor.run()
    return control.exit_status


if __name__ == "__main__":
    sys.exit(main())
