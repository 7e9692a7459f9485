"""Tests for L{rpsa.play.settings.GameSettings}."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play.settings import GameSettings


class GameSettingsTests(SynchronousTestCase):
    """Settings travel as JSON (to a match child)."""

    def test_round_trip(self):
        """from_json(to_json()) gives equal settings."""
        settings = GameSettings(tick=0.5, max_spectators=3, ping_interval=0)
        self.assertEqual(GameSettings.from_json(settings.to_json()), settings)

    def test_unknown_keys_ignored(self):
        """Keys that are not settings (a child's ports, say) are ignored; missing ones default."""
        settings = GameSettings.from_json({"tick": 2.0, "ports": [1, 2]})
        self.assertEqual(settings, GameSettings(tick=2.0))
