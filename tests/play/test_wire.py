"""Frames shared by every game: which events qualify, and the cache's bound."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire
from rpsa.rules.events import GameEventType, RoundEventType, game_event, round_event, state_change


class SharedFrameTests(SynchronousTestCase):
    """wire.event_frame_key and wire.shared_frame."""

    def setUp(self):
        self.patch(wire, "_shared_frames", {})

    def test_same_in_every_game(self):
        """Countdowns, state changes, ROUND_STARTED and GAME_STARTED have keys; equal events equal keys."""
        for event in (round_event(RoundEventType.ROUND_COUNTDOWN, {"value": 3}),
                      round_event(RoundEventType.WEAPON_COUNTDOWN, {"value": 1}),
                      round_event(RoundEventType.ROUND_STARTED), state_change(2, 3),
                      game_event(GameEventType.GAME_STARTED, {})):
            self.assertIsNotNone(wire.event_frame_key(event))
        self.assertEqual(wire.event_frame_key(state_change(2, 3)), wire.event_frame_key(state_change(2, 3)))
        self.assertNotEqual(wire.event_frame_key(state_change(2, 3)), wire.event_frame_key(state_change(3, 2)))

    def test_game_specific_events_have_no_key(self):
        """Events carrying ids or results are never shared."""
        self.assertIsNone(wire.event_frame_key(game_event(GameEventType.GAME_COMPLETE, {"winnerId": "a", "loserId": "b"})))
        self.assertIsNone(wire.event_frame_key(round_event(RoundEventType.ROUND_FINISHED, {"roundWinnerId": "a", "roundLoserId": "b"})))
        self.assertIsNone(wire.event_frame_key(round_event(RoundEventType.WEAPONS_SELECTED, {"attackSummary": {}})))

    def test_built_once(self):
        """The second request for a key reuses the first frame without building again."""
        built = []
        prepare = lambda payload: ("frame", payload)
        first = wire.shared_frame("k", lambda: built.append(1) or {"type": "x"}, prepare)
        second = wire.shared_frame("k", lambda: built.append(1) or {"type": "x"}, prepare)
        self.assertIs(first, second)
        self.assertEqual((built, first), ([1], ("frame", b'{"type":"x"}')))

    def test_bounded(self):
        """Past SHARED_FRAMES_MAX keys, frames are still built but no longer kept."""
        self.patch(wire, "SHARED_FRAMES_MAX", 2)
        for n in range(5):
            wire.shared_frame(n, lambda: {"n": n}, lambda payload: payload)
        self.assertEqual(len(wire._shared_frames), 2)
        self.assertEqual(wire.shared_frame(4, lambda: {"n": 4}, lambda payload: payload), b'{"n":4}')


class SyncPayloadTests(SynchronousTestCase):
    """wire.sync_payload is byte for byte what the JSON encoder writes."""

    def test_same_bytes_as_json(self):
        """Ints, whole and fractional floats and zero encode exactly as encode(sync(...)) does."""
        for health in ((100, 120), (67.5, 0), (35.000000000000014, 10.000000000000007),
                       (32.49999999999999, 1e-05), (0, 27.500000000000004)):
            self.assertEqual(wire.sync_payload(health), wire.encode(wire.sync(health)))
