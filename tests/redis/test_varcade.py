"""The Varcade event stream's entries, field by field (../shared/spec/rules.md)."""

from twisted.trial.unittest import TestCase

from rpsa.play.hooks import GameEvents
from rpsa.redis.varcade import VarcadeEvents


class _Writer:
    def __init__(self):
        self.entries = []

    def append(self, fields):
        self.entries.append(list(fields))


def head(kind):
    return ["product_id", "exrps", "game_id", "g1", "type", kind]


class VarcadeEventsTests(TestCase):
    def setUp(self):
        self.writer = _Writer()
        self.events = VarcadeEvents(self.writer, "exrps")

    def test_state_changes(self):
        self.events.creator_joined("g1")
        self.events.all_players_joined("g1")
        self.assertEqual(self.writer.entries, [
            head("state_change") + ["new_state", "creator_joined"],
            head("state_change") + ["new_state", "all_players_joined"],
        ])

    def test_gameplay(self):
        self.events.fighter_selected("g1", "u1", "aru")
        self.events.player_ready("g1", "u1")
        self.events.weapons_selected("g1", "u1", 0, "u2", 2)
        self.events.weapons_selected("g1", "u1", None, "u2", 1)
        self.assertEqual(self.writer.entries, [
            head("gameplay") + ["event_name", "select_fighter", "event_data", "aru", "user_id", "u1"],
            head("gameplay") + ["event_name", "set_ready", "event_data", "", "user_id", "u1"],
            head("gameplay") + ["event_name", "select_weapon", "event_data", "0", "user_id", "u1"],
            head("gameplay") + ["event_name", "select_weapon", "event_data", "2", "user_id", "u2"],
            head("gameplay") + ["event_name", "select_weapon", "event_data", "", "user_id", "u1"],
            head("gameplay") + ["event_name", "select_weapon", "event_data", "1", "user_id", "u2"],
        ])

    def test_progression(self):
        self.events.round_started("g1", "u1", "u2")
        self.events.round_finished("g1", "u2", "u1", "u1", "u2")
        self.assertEqual(self.writer.entries, [
            head("gameplay") + ["event_name", "progression", "progress_event", "round_started",
                                "p1_id", "u1", "p2_id", "u2"],
            head("gameplay") + ["round_winner_id", "u2", "round_loser_id", "u1", "event_name", "progression",
                                "progress_event", "round_finished", "p1_id", "u1", "p2_id", "u2"],
        ])

    def test_end(self):
        self.events.game_over("g1", "u1", "u2")
        self.events.player_disconnected("g1", "u2")
        self.events.game_removed("g1")
        self.assertEqual(self.writer.entries, [
            head("game_over") + ["winner_id", "u1", "loser_id", "u2"],
            head("player_disconnect") + ["player_id", "u2"],
            head("game_removed"),
        ])

    def test_every_value_is_a_string(self):
        self.events.weapons_selected("g1", "u1", 1, "u2", 0)
        for fields in self.writer.entries:
            self.assertTrue(all(isinstance(v, str) for v in fields))

    def test_the_base_class_does_nothing(self):
        events = GameEvents()
        for name in ("creator_joined", "all_players_joined", "game_removed"):
            self.assertIsNone(getattr(events, name)("g1"))
        self.assertIsNone(events.weapons_selected("g1", "u1", 0, "u2", None))

