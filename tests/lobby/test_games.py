"""rpsa.lobby.games: what the lobby builds for a game, and when (its rules are tested through the APIs)."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.lobby.games import NoSuchGame
from rpsa.play import wire
from rpsa.play.websocket import GameConnectionFactory, SessionFactory
from tests.play.fakes import make_lobby


class SharedFactoryTests(SynchronousTestCase):
    """Every game's connections come from the lobby's one WebSocket factory; factory() binds it to a game."""

    def setUp(self):
        self.lobby = make_lobby(Clock())[0]

    def test_one_factory_for_every_game(self):
        """factory() of two games: the same Autobahn factory, each bound to its own session."""
        first, _ = self.lobby.create("u1", "U1", "g1")
        second, _ = self.lobby.create("u2", "U2", "g2")
        one, two = self.lobby.factory("g1"), self.lobby.factory("g2")
        self.assertIsInstance(one, SessionFactory)
        self.assertIsInstance(one.factory, GameConnectionFactory)
        self.assertIs(one.factory, self.lobby.websocket_factory)
        self.assertIs(two.factory, self.lobby.websocket_factory)
        self.assertEqual((one.session, two.session), (first, second))
        self.assertIs(self.lobby.websocket_factory.heartbeat, self.lobby.heartbeat)

    def test_connections_know_their_game(self):
        """A connection built for a game belongs to that game's session, with the shared factory."""
        session, _ = self.lobby.create("u1", "U1", "g1")
        protocol = self.lobby.factory("g1").buildProtocol(None)
        self.assertIs(protocol.session, session)
        self.assertIs(protocol.factory, self.lobby.websocket_factory)

    def test_unknown_and_closed_games(self):
        """No factory for a game that does not exist, or no longer does."""
        self.assertRaises(NoSuchGame, self.lobby.factory, "nope")
        self.lobby.create("u1", "U1", "g1")
        self.lobby.factory("g1")
        self.lobby.remove("g1", wire.GAME_REMOVED)
        self.assertRaises(NoSuchGame, self.lobby.factory, "g1")
