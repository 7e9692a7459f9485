"""Tests for L{rpsa.bots.roster.Bots}: bot opponents in lobby games, and bots taking over a lost seat."""

import json
import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.bots.roster import Bots, UnknownLevel
from rpsa.lobby.games import Lobby, NoBots
from rpsa.play import views, wire
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from tests.play.fakes import FakeConnection

GAME, ROUND = "RPSGameEvent", "RPSRoundEvent"
GAME_COMPLETE, WEAPONS_SELECTED = 1, 3


def say(session, conn, message):
    return session.received(conn, json.dumps(message).encode(), False)


def lobby_on(clock, bots, **settings):
    game_settings = GameSettings(**settings)
    return Lobby(clock, game_settings, TickScheduler(clock, game_settings.tick), bots=bots)


class BotsTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.bots = Bots(self.clock, random.Random(1))

    def test_levels(self):
        """The default level for None; known levels as they are; others refused."""
        self.assertEqual(self.bots.check_level(None), "strategy")
        self.assertEqual(self.bots.check_level("random"), "random")
        self.assertRaises(UnknownLevel, self.bots.check_level, "godlike")
        self.assertEqual(set(self.bots.levels), {"strategy", "random"})

    def test_identity(self):
        """A bot's user id never clashes with the players'."""
        self.assertEqual(self.bots.identity("random", ["alice"]), ("bot-random", "Computer (random)"))
        self.assertEqual(self.bots.identity("random", ["bot-random"])[0], "bot-random-2")


class BotGameTests(SynchronousTestCase):
    """A lobby game created with a bot opponent."""

    def setUp(self):
        self.clock = Clock()
        self.lobby = lobby_on(self.clock, Bots(self.clock, random.Random(2)), tick=1.0)

    def test_bot_takes_seat_two_at_once(self):
        """The bot is seated and connected before the host; the game is not joinable; the summary flags it."""
        session, host_seat = self.lobby.create("alice", "Alice", game_id="g", rounds=1, bot_level="random")
        self.assertEqual([s.user_id for s in session.seats], ["alice", "bot-random"])
        summary = views.summary(session)
        self.assertEqual(summary["players"][1], {"user_id": "bot-random", "username": "Computer (random)",
                                                 "connected": True, "bot": True})
        self.assertNotIn("bot", summary["players"][0])
        self.assertFalse(session.joinable)
        self.assertRaises(Exception, self.lobby.join, "g", "bob", "Bob")

    def test_match_starts_when_the_human_is_ready(self):
        """The host connects, picks and readies: the match is on within two ticks, and ends."""
        session, host_seat = self.lobby.create("alice", "Alice", game_id="g", rounds=1, bot_level="strategy")
        host = FakeConnection("alice")
        session.connect_player(host_seat, host)
        say(session, host, {"type": "select_fighter", "characterId": "man"})
        say(session, host, {"type": "start_battle"})
        self.clock.pump([0.1] * 20)
        self.assertEqual(session.state, "in_progress")
        self.clock.pump([0.1] * 3000)
        self.assertEqual(len(host.of_type(GAME, GAME_COMPLETE)), 1)
        self.assertNotIn("g", self.lobby.games)
        self.assertEqual(host.close_code, wire.NORMAL)

    def test_no_bots(self):
        """A lobby without bots refuses a bot game."""
        lobby = lobby_on(self.clock, None)
        self.assertRaises(NoBots, lobby.create, "alice", "Alice", bot_level="random")


class TakeoverTests(SynchronousTestCase):
    """--bot-takeover: a player who left a match in progress is replaced by a bot when the grace runs out."""

    def start_match(self, takeover):
        self.clock = Clock()
        self.lobby = lobby_on(self.clock, Bots(self.clock, random.Random(3)), tick=1.0,
                              reconnect_grace=10.0, bot_takeover=takeover)
        self.session, host_seat = self.lobby.create("alice", "Alice", game_id="g", rounds=1)
        _, self.guest_seat = self.lobby.join("g", "bob", "Bob")
        self.host, self.guest = FakeConnection("alice"), FakeConnection("bob")
        self.session.connect_player(host_seat, self.host)
        self.session.connect_player(self.guest_seat, self.guest)
        for conn, fighter in ((self.host, "aru"), (self.guest, "mai")):
            say(self.session, conn, {"type": "select_fighter", "characterId": fighter})
            say(self.session, conn, {"type": "start_battle"})
        self.clock.advance(1)

    def test_a_bot_finishes_the_match(self):
        """Bob drops; after the takeover grace a bot holds his seat, everyone is told, and the match ends."""
        self.start_match(takeover=3.0)
        self.session.disconnected(self.guest)
        self.assertEqual(self.host.of_type("player_left")[-1]["reconnectGrace"], 3.0)
        self.clock.advance(3)
        self.assertEqual(self.host.of_type("bot_takeover"), [{"type": "bot_takeover", "userId": "bob"}])
        self.assertTrue(self.session.seats[1].conn.is_bot)
        self.assertEqual(views.summary(self.session)["players"][1]["bot"], True)
        self.assertEqual(self.session.finished_by_bot, ["bob"])
        self.clock.pump([0.1] * 3000)
        self.assertEqual(len(self.host.of_type(GAME, GAME_COMPLETE)), 1)

    def test_the_player_can_come_back(self):
        """Bob's token still opens his seat: coming back replaces the bot (closed 4001)."""
        self.start_match(takeover=2.0)
        self.session.disconnected(self.guest)
        self.clock.advance(2)
        bot = self.session.seats[1].conn
        again = FakeConnection("bob again")
        self.session.connect_player(self.guest_seat, again)
        self.assertEqual(bot.close_code, wire.REPLACED)
        self.assertIs(self.session.seats[1].conn, again)
        self.assertEqual(views.summary(self.session)["players"][1].get("bot"), None)

    def test_off_by_default(self):
        """Without --bot-takeover, the seat is lost as before (player 2 gone: 4003 to the host)."""
        self.start_match(takeover=None)
        self.session.disconnected(self.guest)
        self.assertEqual(self.host.of_type("player_left")[-1]["reconnectGrace"], 10.0)
        self.clock.advance(10)
        self.assertEqual(self.host.of_type("bot_takeover"), [])
        self.assertEqual(self.host.of_type("error")[-1]["code"], wire.OPPONENT_DISCONNECTED)

    def test_not_before_the_match(self):
        """Before the match starts, a lost seat is lost as usual, takeover or not."""
        self.clock = Clock()
        lobby = lobby_on(self.clock, Bots(self.clock), bot_takeover=1.0, join_timeout=5.0)
        session, _ = lobby.create("alice", "Alice", game_id="g")
        self.clock.advance(5)
        self.assertNotIn("g", lobby.games)
        self.assertTrue(session.closed)
