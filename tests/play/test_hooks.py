"""Tests for L{rpsa.play.hooks}: the defaults hear everything and do nothing; RelayedEvents passes events on."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play.hooks import EVENTS, GameEvents, RelayedEvents, ServerHooks


class ServerHooksTests(SynchronousTestCase):
    """Every hook is optional."""

    def test_defaults_do_nothing(self):
        """Each method of the base class accepts its arguments and returns None."""
        hooks = ServerHooks()
        calls = [hooks.opened(object()), hooks.closed(object()), hooks.received(), hooks.rejected("size"),
                 hooks.game_completed(object()), hooks.lobby_changed(object())]
        self.assertEqual(calls, [None] * 6)


class GameEventsTests(SynchronousTestCase):
    """The lifecycle interface, and its relay."""

    def test_defaults_do_nothing(self):
        """Each event of the base class returns None."""
        events = GameEvents()
        for name, params in EVENTS.items():
            self.assertIsNone(getattr(events, name)(*["x"] * len(params)))

    def test_events(self):
        """EVENTS names each event and its arguments, in order."""
        self.assertEqual(EVENTS["weapons_selected"], ("game_id", "p1_id", "p1_weapon", "p2_id", "p2_weapon"))
        self.assertEqual(set(EVENTS), {
            "creator_joined", "all_players_joined", "fighter_selected", "player_ready", "weapons_selected",
            "round_started", "round_finished", "game_over", "player_disconnected", "game_removed"})

    def test_relay(self):
        """RelayedEvents sends each call as (name, [arguments])."""
        sent = []
        relay = RelayedEvents(lambda name, args: sent.append((name, args)))
        relay.creator_joined("g1")
        relay.weapons_selected("g1", "u1", 0, "u2", None)
        self.assertEqual(sent, [("creator_joined", ["g1"]), ("weapons_selected", ["g1", "u1", 0, "u2", None])])

