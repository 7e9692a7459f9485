"""Tests for L{rpsa.play.hooks.ServerHooks}: the default hears everything and does nothing."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play.hooks import ServerHooks


class ServerHooksTests(SynchronousTestCase):
    """Every hook is optional."""

    def test_defaults_do_nothing(self):
        """Each method of the base class accepts its arguments and returns None."""
        hooks = ServerHooks()
        calls = [hooks.opened(object()), hooks.closed(object()), hooks.received(), hooks.rejected("size"),
                 hooks.game_completed(object()), hooks.lobby_changed(object())]
        self.assertEqual(calls, [None] * 6)
