"""Tests of ``rpsa.tools.loadtest.game``: one game driven step by step with fake HTTP and sockets."""

import json
import random

from twisted.internet import defer
from twisted.test.proto_helpers import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire
from rpsa.rules import FIGHTERS
from rpsa.tools.loadtest import cli, game
from rpsa.tools.loadtest.client import SocketOwner
from rpsa.tools.loadtest.run import Timers
from rpsa.tools.loadtest.statistics import Stats, Window
from tests.tools.loadtest.fakes import GAME_COMPLETE, GAME_STARTED, round_event


class FakeHttp:
    """Records posts; the test answers each with ``reply(i, body)``."""

    def __init__(self):
        self.posts = []

    def post(self, url, body, expect, extract):
        d = defer.Deferred()
        self.posts.append((url, body, expect, extract, d))
        return d

    def reply(self, i, reply):
        """Answer post ``i`` with ``reply``; an extract error fires None, as HttpClient does after counting it."""
        url, body, expect, extract, d = self.posts[i]
        value = extract(reply)
        d.callback(None if isinstance(value, str) and value.startswith("!") else value)


class FakeSocket:
    """A player socket that records what the game sends and does."""

    def __init__(self):
        self.sent, self.closed, self.aborted, self.gone = [], False, False, False

    def send_json(self, obj):
        self.sent.append(wire.parse_client_message(json.dumps(obj).encode(), False))

    def close_normally(self):
        self.closed = True

    def abort(self):
        self.aborted = True


class RecordingOwner(game.GameOwner):
    """Records how games end."""

    def __init__(self):
        self.ended = []

    def game_ended(self, g, failed):
        self.ended.append((g, failed))


class GameTests(SynchronousTestCase):
    """A game goes create, host socket, join, guest socket, picks, play, complete."""

    def make_game(self, *argv):
        """A game on fakes, with the window covering the whole test."""
        cfg = cli.parse_options(["--http", "http://127.0.0.1:1", "--tick-ms", "10", *argv])
        self.reactor = MemoryReactorClock()
        timers = Timers(self.reactor)
        timers.start()
        self.http, self.owner = FakeHttp(), RecordingOwner()
        self.stats = Stats(Window(0, 10_000))
        self.sockets = [FakeSocket(), FakeSocket()]
        return game.Game("g1", 0, cfg, random.Random(1), timers, self.http, self.stats, self.reactor,
                         SocketOwner(), self.owner)

    def message(self, g, role, msg):
        """The server sends ``msg`` on player ``role``'s socket."""
        g.on_message(role, json.dumps(msg).encode())

    def seat(self, g, role):
        """Player ``role``'s socket is up and the server announces it."""
        g.on_socket(role, self.sockets[role])
        self.message(g, role, {"type": "player_joined", "gameData": {}})

    def test_native_game(self):
        """On native routes the game plays through and is counted once, both sockets closed normally."""
        g = self.make_game()
        g.run()
        url, body, expect, _, _ = self.http.posts[0]
        self.assertEqual((url, body, expect), ("http://127.0.0.1:1/api/games",
                                               {"user_id": "g1-p1", "username": "host0"}, 201))
        self.http.reply(0, {"game_id": "s 1", "ws_url": "ws://127.0.0.1:2/a"})
        self.assertEqual((g.state, self.reactor.tcpClients[0][:2]), (game.HOST_WS, ("127.0.0.1", 2)))
        self.seat(g, 0)
        url, body, expect, _, _ = self.http.posts[1]
        self.assertEqual((url, body, expect), ("http://127.0.0.1:1/api/games/s%201/players",
                                               {"user_id": "g1-p2", "username": "guest0"}, 201))
        self.http.reply(1, {"game_id": "s 1", "ws_url": "ws://127.0.0.1:3/b"})
        self.seat(g, 1)
        self.assertEqual(g.state, game.FIGHTERS_STEP)
        for role in (0, 1):
            kind, fighter = self.sockets[role].sent[0]
            self.assertEqual(kind, "select_fighter")
            self.assertIn(fighter, FIGHTERS)
            self.message(g, role, {"type": "select_fighter", "gameData": {"playerId": g.users[role]}})
            self.assertEqual(self.sockets[role].sent[1], ("start_battle", None))
        self.assertEqual(g.state, game.START)
        self.message(g, 0, GAME_STARTED)
        self.assertEqual(g.state, game.PLAYING)
        for role in (0, 1):
            self.message(g, role, round_event(1, {"value": 3}))
            self.assertEqual(self.sockets[role].sent[2][0], "select_weapon")
        self.message(g, 0, GAME_COMPLETE)
        self.assertEqual((self.stats.completed, self.stats.errors), (1, {}))
        self.assertTrue(self.sockets[0].closed and self.sockets[1].closed)
        self.assertEqual(self.owner.ended, [(g, False)])

    def test_compat_routes(self):
        """With --compat the game posts the original routes and fills the WebSocket path template."""
        g = self.make_game("--compat", "--ws", "ws://127.0.0.1:4")
        g.run()
        url, body, expect, _, _ = self.http.posts[0]
        self.assertEqual((url, body, expect), ("http://127.0.0.1:1/create_game",
                                               {"gameId": "g1", "userId": "g1-p1", "username": "host0"}, 200))
        self.assertEqual(g._ws_url(0, "t/1"), "ws://127.0.0.1:4/?game_token=t%2F1&user_id=g1-p1")
        self.http.reply(0, {"gameToken": "t1"})
        self.assertEqual(self.reactor.tcpClients[0][:2], ("127.0.0.1", 4))

    def test_server_error_fails_the_game(self):
        """An error message from the server ends the game with server_error_msg and aborts its sockets."""
        g = self.make_game()
        g.run()
        self.http.reply(0, {"game_id": "s1", "ws_url": "ws://127.0.0.1:2/a"})
        g.on_socket(0, self.sockets[0])
        self.message(g, 0, {"type": "error", "code": 4002, "message": "host disconnected"})
        self.assertEqual(self.stats.errors, {"server_error_msg": 1})
        self.assertTrue(self.sockets[0].aborted)
        self.assertEqual(self.owner.ended, [(g, True)])

    def test_failed_create(self):
        """A create that failed (already counted by the HTTP client) ends the game without a second count."""
        g = self.make_game()
        g.run()
        self.http.reply(0, {"ws_url": "ws://127.0.0.1:2/a"})
        self.assertEqual((self.stats.errors, self.owner.ended), ({}, [(g, True)]))
