"""Tests for L{rpsa.play.frames}: frames built once for every receiver (and once per process when the same in
every game), and a tick's frames as one L{Burst}."""

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire
from rpsa.play.frames import Burst, FramePreparer, payloads, shared_event_key
from rpsa.rules.events import GameEventType, RoundEventType, game_event, round_event, state_change
from tests.play.test_fastpath import open_recorder
from tests.support.frames import read_frames


class FramePreparerTests(SynchronousTestCase):
    """Frames built once for every receiver, and once per process when the same in every game."""

    def test_same_frame_as_a_server_factory(self):
        """prepare() builds exactly what Autobahn's server factory's prepareMessage builds."""
        payload = wire.encode({"type": "x", "text": "é" * 200})
        mine, theirs = FramePreparer.prepare(payload), WebSocketServerFactory().prepareMessage(payload)
        self.assertEqual((mine.payloadHybi, mine.payload, mine.binary, mine.doNotCompress),
                         (theirs.payloadHybi, theirs.payload, theirs.binary, theirs.doNotCompress))

    def test_message_and_sync(self):
        """message() frames the wire encoding; sync() the ``sync`` message."""
        frames = FramePreparer()
        self.assertEqual(frames.message({"type": "x"}).payload, b'{"type":"x"}')
        self.assertEqual(frames.sync((100, 27.5)).payload, wire.sync_payload((100, 27.5)))

    def test_same_in_every_game(self):
        """Countdowns, state changes, ROUND_STARTED and GAME_STARTED have keys; equal events equal keys."""
        for event in (round_event(RoundEventType.ROUND_COUNTDOWN, {"value": 3}),
                      round_event(RoundEventType.WEAPON_COUNTDOWN, {"value": 1}),
                      round_event(RoundEventType.ROUND_STARTED), state_change(2, 3),
                      game_event(GameEventType.GAME_STARTED, {})):
            self.assertIsNotNone(shared_event_key(event))
        self.assertEqual(shared_event_key(state_change(2, 3)), shared_event_key(state_change(2, 3)))
        self.assertNotEqual(shared_event_key(state_change(2, 3)), shared_event_key(state_change(3, 2)))

    def test_game_specific_events_have_no_key(self):
        """Events carrying ids or results are never shared."""
        self.assertIsNone(shared_event_key(game_event(GameEventType.GAME_COMPLETE, {"winnerId": "a", "loserId": "b"})))
        self.assertIsNone(shared_event_key(round_event(RoundEventType.ROUND_FINISHED, {"roundWinnerId": "a", "roundLoserId": "b"})))
        self.assertIsNone(shared_event_key(round_event(RoundEventType.WEAPONS_SELECTED, {"attackSummary": {}})))

    def test_shared_frame_built_once(self):
        """The second frame of an event the same in every game is the first one; others are built afresh."""
        frames = FramePreparer()
        first, second = frames.event(state_change(2, 3)), frames.event(state_change(2, 3))
        self.assertIs(first, second)
        self.assertEqual(first.payload, wire.encode(wire.engine_event(state_change(2, 3))))
        done = game_event(GameEventType.GAME_COMPLETE, {"winnerId": "a", "loserId": "b"})
        self.assertIsNot(frames.event(done), frames.event(done))
        self.assertEqual(frames.event(done).payload, wire.encode(wire.engine_event(done)))

    def test_bounded(self):
        """Past max_shared keys, frames are still built but no longer kept."""
        frames = FramePreparer(max_shared=2)
        events = [round_event(RoundEventType.ROUND_COUNTDOWN, {"value": n}) for n in range(5)]
        for event in events:
            frames.event(event)
        self.assertEqual([frames.event(e) is frames.event(e) for e in events], [True, True, False, False, False])
        self.assertEqual(frames.event(events[4]).payload, wire.encode(wire.engine_event(events[4])))

    def test_one_cache_per_preparer(self):
        """No frame is shared between two preparers (no process-wide state)."""
        self.assertIsNot(FramePreparer().event(state_change(2, 3)), FramePreparer().event(state_change(2, 3)))


class BurstTests(SynchronousTestCase):
    """A tick's frames leave together: one write carrying them back to back."""

    def setUp(self):
        self.frames = [FramePreparer.prepare(wire.encode({"type": "x", "n": n})) for n in range(3)]

    def test_frames_back_to_back(self):
        """A burst's bytes are its frames' bytes in order; payloads() gives their texts."""
        burst = Burst(self.frames)
        self.assertEqual(burst.payloadHybi, b"".join(f.payloadHybi for f in self.frames))
        self.assertEqual(payloads(burst), tuple(f.payload for f in self.frames))
        self.assertEqual(payloads(self.frames[0]), (self.frames[0].payload,))

    def test_one_frame_is_not_wrapped(self):
        """burst() of one frame is that frame; of several, a Burst of them."""
        self.assertIs(FramePreparer.burst(self.frames[:1]), self.frames[0])
        self.assertEqual(FramePreparer.burst(self.frames).frames, tuple(self.frames))

    def test_a_client_reads_every_message(self):
        """Through the lean write and through Autobahn's sendPreparedMessage (the fallback), the peer's
        parser finds each message of the burst, in order."""
        protocol, transport = open_recorder()
        self.assertFalse(protocol.write_prepared(Burst(self.frames)))  # a StringTransport: write(), kept there
        protocol.sendPreparedMessage(Burst(self.frames))
        found, rest = read_frames(transport.value())
        self.assertEqual(rest, b"")
        self.assertEqual([payload for _, payload in found], [f.payload for f in self.frames] * 2)

    def test_compression_sends_it_as_built(self):
        """With permessage-deflate negotiated, Autobahn still writes a Burst as built (uncompressed messages)."""
        protocol, transport = open_recorder()
        protocol._perMessageCompress = object()  # anything but None: compression is on
        protocol.sendPreparedMessage(Burst(self.frames))
        self.assertEqual(transport.value(), Burst(self.frames).payloadHybi)
