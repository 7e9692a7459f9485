"""rpsa.lobby.games: what the lobby builds for a game, and when (its rules are tested through the APIs)."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.lobby import games
from rpsa.lobby.games import NoSuchGame
from rpsa.play import websocket, wire
from rpsa.play.websocket import GameConnectionFactory
from tests.play.fakes import make_lobby


class LazyFactoryTests(SynchronousTestCase):
    """A game's WebSocket factory is built at its first upgrade, once, and forgotten when it closes."""

    def setUp(self):
        self.lobby = make_lobby(Clock())[0]
        self.built = []
        real = websocket.GameConnectionFactory

        def counting(*args, **kwargs):
            self.built.append(args[0])
            return real(*args, **kwargs)

        self.patch(games, "GameConnectionFactory", counting)

    def test_not_built_by_create_or_join(self):
        """Creating and joining a game builds no factory."""
        self.lobby.create("u1", "U1", "g1")
        self.lobby.join("g1", "u2", "U2")
        self.assertEqual(self.built, [])

    def test_built_once_on_demand(self):
        """factory() builds the game's factory once and returns the same one after."""
        session, _ = self.lobby.create("u1", "U1", "g1")
        first = self.lobby.factory("g1")
        self.assertIsInstance(first, GameConnectionFactory)
        self.assertIs(first.session, session)
        self.assertIs(first.heartbeat, self.lobby.heartbeat)
        self.assertIs(self.lobby.factory("g1"), first)
        self.assertEqual(self.built, [session])

    def test_unknown_and_closed_games(self):
        """No factory for a game that does not exist, or no longer does."""
        self.assertRaises(NoSuchGame, self.lobby.factory, "nope")
        self.lobby.create("u1", "U1", "g1")
        self.lobby.factory("g1")
        self.lobby.remove("g1", wire.GAME_REMOVED)
        self.assertRaises(NoSuchGame, self.lobby.factory, "g1")
        self.assertEqual(self.lobby._factories, {})
