"""Tests for rpsa.matches.child, in memory: the child's end of stdio on a StringTransport and a MemoryReactorClock.

``tests.integration.test_match`` and ``tests.matches.test_warmpool`` run the
same code as a real ``python -m rpsa.matches.child`` process.
"""

from __future__ import annotations

import json

from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from rpsa.matches.child import FLUSH_WAIT, ControlProtocol
from rpsa.matches.stdio import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, MAX_LINE, encode_line, parse_report
from rpsa.play.settings import GameSettings
from tests.play.fakes import FakeConnection

PLAYERS = [
    {"user_id": "u1", "username": "alice", "token": "token-a"},
    {"user_id": "u2", "username": "bob", "token": "token-b"},
]
MATCH = {"match_id": "m1", "rounds": 1, "players": PLAYERS}


class ChildReactor(MemoryReactorClock):
    """A memory reactor on which the ports in ``busy`` cannot be bound."""

    def __init__(self, busy=()):
        super().__init__()
        self.busy = set(busy)
        self.running = True

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port in self.busy:
            raise CannotListenError(interface, port, OSError("address in use"))
        return super().listenTCP(port, factory, backlog, interface)


def config(low=9000, high=9001, events=None, **settings):
    """A config line for ports ``low``-``high`` and the given game settings (``events``: ask for Event lines)."""
    body = GameSettings(**settings).to_json()
    body.update(ports=[low, high], interface="127.0.0.1")
    if events is not None:
        body["events"] = events
    return encode_line(body)


class ChildTestCase(SynchronousTestCase):
    """A ControlProtocol connected to a StringTransport on a ChildReactor."""

    def setUp(self):
        self.reactor = ChildReactor(busy={9000})
        self.control = ControlProtocol(self.reactor)
        self.transport = StringTransport()
        self.control.makeConnection(self.transport)

    def reports(self):
        """What the child wrote to stdout, parsed as the daemon parses it."""
        return [parse_report(line) for line in self.transport.value().splitlines()]

    def assert_exited(self, status):
        """The child closed stdio with exit ``status`` and stops the reactor after FLUSH_WAIT at the latest."""
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.control.exit_status, status)
        self.reactor.advance(FLUSH_WAIT)
        self.assertTrue(self.reactor.hasStopped)


class SetupTests(ChildTestCase):
    """The config and match lines."""

    def test_first_free_port(self):
        """The child binds the first free port of the range on the interface and reports it."""
        self.control.dataReceived(config(9000, 9002))
        self.assertEqual(self.reports(), [("port", 9001)])
        [(port, _, _, interface)] = self.reactor.tcpServers
        self.assertEqual((port, interface), (9001, "127.0.0.1"))
        self.assertFalse(self.transport.disconnecting)

    def test_no_free_port(self):
        """With every port taken the child reports no_free_port and exits 1."""
        self.control.dataReceived(config(9000, 9000))
        [(kind, error)] = self.reports()
        self.assertEqual((kind, error.code, error.message), ("error", "no_free_port", "no free port in 9000-9000"))
        self.assert_exited(EXIT_ERROR)

    def test_bad_config(self):
        """A config line that is not JSON is bad_config, exit 2; the rest of the input is ignored."""
        self.control.dataReceived(b"nope\n" + encode_line(MATCH))
        [(kind, error)] = self.reports()
        self.assertEqual((kind, error.code), ("error", "bad_config"))
        self.assert_exited(EXIT_BAD_INPUT)

    def test_overlong_line(self):
        """A stdin line over MAX_LINE is bad_input, exit 2, even split across reads."""
        self.control.dataReceived(b"x" * MAX_LINE)
        self.assertEqual(self.reports(), [])
        self.control.dataReceived(b"x\n" + config())
        [(kind, error)] = self.reports()
        self.assertEqual((kind, error.code), ("error", "bad_input"))
        self.assert_exited(EXIT_BAD_INPUT)

    def test_match_line(self):
        """The match line, in the same read or later, makes the child report its players, none connected."""
        self.control.dataReceived(config())
        self.control.dataReceived(encode_line(MATCH)[:10])
        self.assertEqual(len(self.reports()), 1)
        self.control.dataReceived(encode_line(MATCH)[10:] + b"more lines are ignored\n")
        players = [{"user_id": "u1", "connected": False}, {"user_id": "u2", "connected": False}]
        self.assertEqual(self.reports(), [("port", 9001), ("status", {"state": "waiting", "players": players})])
        self.assertEqual(self.control.runner.session.game_id, "m1")

    def test_bad_match(self):
        """A match line with one player is bad_match, exit 2."""
        self.control.dataReceived(config() + encode_line(dict(MATCH, players=PLAYERS[:1])))
        [port, (kind, error)] = self.reports()
        self.assertEqual((kind, error.code), ("error", "bad_match"))
        self.assert_exited(EXIT_BAD_INPUT)


class EndTests(ChildTestCase):
    """How a match child ends."""

    def setUp(self):
        super().setUp()
        self.control.dataReceived(config(join_timeout=30.0) + encode_line(MATCH))

    def test_join_timeout_abandons(self):
        """Without its players within the join timeout, the match ends abandoned and the child exits 0."""
        self.reactor.advance(30)
        kind, result = self.reports()[-1]
        self.assertEqual((kind, result["reason"]), ("result", "abandoned"))
        self.assertIn(result["user_id"], ("u1", "u2"))
        self.assert_exited(EXIT_OK)

    def test_sigterm_reports_stopped(self):
        """The reactor's shutdown (SIGTERM) reports the match stopped and closes it."""
        [(shutdown, args, kwargs)] = self.reactor.triggers["before"]["shutdown"]
        self.successResultOf(shutdown(*args, **kwargs))
        self.assertEqual(self.reports()[-1], ("result", {"reason": "stopped"}))
        self.assertTrue(self.control.runner.session.closed)

    def test_daemon_gone(self):
        """EOF on stdin: the child closes the match and exits 0 without writing a result."""
        written = len(self.reports())
        self.control.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(self.control.runner.session.closed)
        self.assertEqual(len(self.reports()), written)
        self.assertEqual(self.control.exit_status, EXIT_OK)
        self.assertTrue(self.transport.disconnecting)

    def test_daemon_gone_before_match(self):
        """EOF on stdin before any match: the child exits 0."""
        control = ControlProtocol(self.reactor)
        transport = StringTransport()
        control.makeConnection(transport)
        control.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((control.exit_status, transport.value(), transport.disconnecting), (EXIT_OK, b"", True))


class BotTakeoverTests(ChildTestCase):
    """--bot-takeover in a match child: a bot finishes the match, and the result says so."""

    def test_result_records_the_bot(self):
        """u2 drops mid-match and stays away: a bot plays on; the result lists u2 in finished_by_bot."""
        self.control.dataReceived(config(tick=1.0, bot_takeover=2.0) + encode_line(MATCH))
        session = self.control.runner.session
        conns = [FakeConnection("u1"), FakeConnection("u2")]
        for seat, conn, fighter in zip(session.seats, conns, ("aru", "mai")):
            session.connect_player(seat, conn)
            session.received(conn, json.dumps({"type": "select_fighter", "characterId": fighter}).encode(), False)
            session.received(conn, json.dumps({"type": "start_battle"}).encode(), False)
        self.reactor.advance(1)
        session.disconnected(conns[1])
        self.reactor.advance(2)
        self.assertTrue(session.seats[1].conn.is_bot)
        for _ in range(600):
            self.reactor.advance(0.5)
            if [r for r in self.reports() if r[0] == "result"]:
                break
        [(kind, result)] = [r for r in self.reports() if r[0] == "result"]
        self.assertEqual(result["finished_by_bot"], ["u2"])
        self.assertEqual(set(result["round_wins"]), {"u1", "u2"})


class EventTests(ChildTestCase):
    """``"events": true``: the match's lifecycle events as ``Event:`` lines."""

    def events(self):
        return [(p["name"], *p["args"]) for kind, p in self.reports() if kind == "event"]

    def test_events_reported_when_asked(self):
        """A connecting player is creator_joined; an abandoned match's game is removed once."""
        self.control.dataReceived(config(join_timeout=30.0, events=True) + encode_line(MATCH))
        session = self.control.runner.session
        session.connect_player(session.seats[0], FakeConnection("u1"))
        self.reactor.advance(30)  # player 2 never came: abandoned
        self.assertEqual(self.events(), [("creator_joined", "m1"), ("game_removed", "m1")])

    def test_no_events_unless_asked(self):
        self.control.dataReceived(config(join_timeout=30.0) + encode_line(MATCH))
        session = self.control.runner.session
        session.connect_player(session.seats[0], FakeConnection("u1"))
        self.reactor.advance(30)
        self.assertEqual(self.events(), [])

