"""A game's WebSocket against hostile clients (issue 10), over in-memory transports, frame by frame.

Each kind of bad input gets its documented close code (docs/protocol.md,
"Close and error codes"); pings count against the message rate; a closed
connection is freed by reference counting alone, without waiting for the
cycle collector (which the daemon tunes to run rarely).
"""

import gc
import weakref

from autobahn.twisted.testing import MemoryReactorClockResolver
from twisted.trial.unittest import SynchronousTestCase
from txaio.testutil import replace_loop

from rpsa.play import wire
from tests.play.fakes import make_lobby
from tests.support import frames
from tests.support.frames import MemoryPeer, frame, text

PROTOCOL_ERROR, INVALID_PAYLOAD = 1002, 1007


class HostileTestCase(SynchronousTestCase):
    """A lobby with one game (host and guest seats), on a memory reactor."""

    settings = {"max_messages_per_second": 20, "max_message_bytes": 4096}

    def setUp(self):
        self.reactor = MemoryReactorClockResolver()
        loop = replace_loop(self.reactor)
        loop.__enter__()
        self.addCleanup(loop.__exit__, None, None, None)
        self.lobby, self.game_settings, _ = make_lobby(self.reactor, **self.settings)
        self.session, self.host_seat = self.lobby.create("alice", "Alice", game_id="g1")
        self.guest_seat = self.lobby.join("g1", "bob", "Bob")[1]
        self.ports = iter(range(41000, 42000))

    def spectator(self, **kwargs):
        return MemoryPeer(self.lobby.factory("g1"), "/api/games/g1/ws", port=next(self.ports), **kwargs)

    def player(self, seat):
        return MemoryPeer(self.lobby.factory("g1"), f"/api/games/g1/ws?token={seat.token}", port=next(self.ports))

    def settle(self, peer, seconds=5):
        """Let close handshakes and timers run out."""
        for _ in range(int(seconds * 10)):
            self.reactor.advance(0.1)
            peer.poll()


class CloseCodeTests(HostileTestCase):
    """The documented close code for each kind of bad input."""

    def assertClosedWith(self, data, code):
        peer = self.spectator()
        self.assertEqual(peer.status, 101)
        peer.send(data)
        self.settle(peer)
        self.assertEqual(peer.close_code, code, data[:40])
        self.assertTrue(peer.dropped)

    def test_too_big(self):
        self.assertClosedWith(text(b'{"type": "' + b"x" * 5000 + b'"}'), wire.MESSAGE_TOO_BIG)

    def test_too_big_in_fragments(self):
        data = frame(frames.TEXT, b"[" * 3000, fin=False) + frame(frames.CONTINUATION, b"1" * 3000)
        self.assertClosedWith(data, wire.MESSAGE_TOO_BIG)

    def test_too_many_messages(self):
        self.assertClosedWith(b"".join(text({"type": "start_battle"}) for _ in range(25)), wire.TOO_MANY_MESSAGES)

    def test_invalid_utf8(self):
        self.assertClosedWith(frame(frames.TEXT, b'{"type": "\xff"}'), INVALID_PAYLOAD)

    def test_protocol_errors(self):
        """Unmasked frames, reserved bits and opcodes, a continuation out of the blue, a bad close code: 1002."""
        for data in (frame(frames.TEXT, b"{}", mask=False), frame(frames.TEXT, b"{}", rsv=4), frame(0x3, b""),
                     frame(0xB, b""), frame(frames.CONTINUATION, b"x"), frame(frames.PING, b"x" * 126),
                     frame(frames.PING, b"x", fin=False), frames.close_frame(999), frames.close_frame(1004)):
            self.assertClosedWith(data, PROTOCOL_ERROR)

    def test_bad_messages_keep_the_connection(self):
        """Messages that parse as frames but not as game messages are answered with an error, not closed."""
        peer = self.player(self.host_seat)
        for data in (frame(frames.BINARY, b"\x00\x01"), text(b"nope"), text(b"[]"), text({"type": "dance"}),
                     text({"type": "select_weapon", "index": 7}), text(b'"\\ud800"')):
            peer.send(data)
        self.assertEqual([m["code"] for m in peer.of_type("error")],
                         ["invalid_json", "invalid_json", "invalid_message", "unknown_type", "bad_field",
                          "invalid_json"])
        self.assertIsNone(peer.close_code)


class PingTests(HostileTestCase):
    """Pings are messages for the rate limit: a ping flood is closed with 4103, not answered a million times."""

    def test_ping_flood(self):
        peer = self.spectator()
        peer.send(b"".join(frame(frames.PING, b"p" * 125) for _ in range(1000)))
        self.settle(peer)
        self.assertEqual(peer.close_code, wire.TOO_MANY_MESSAGES)
        self.assertLessEqual(peer.pongs, self.game_settings.max_messages_per_second)

    def test_pings_within_the_rate(self):
        peer = self.spectator()
        for _ in range(30):
            peer.send(frame(frames.PING, b"p"))
            self.reactor.advance(0.1)
        self.assertEqual((peer.pongs, peer.close_code), (30, None))


class FreedTests(HostileTestCase):
    """A closed connection is freed at once, by reference counting: nothing of it waits for a full collection."""

    def setUp(self):
        super().setUp()
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

    def assertFreed(self, make, close):
        peer = make()
        self.assertEqual(peer.status, 101)
        peer.send(text({"type": "select_fighter", "characterId": "aru"}))
        protocol = weakref.ref(peer.protocol)
        close(peer)
        self.settle(peer, 10)
        del peer
        self.assertIsNone(protocol(), "the closed connection is still referenced")

    def test_spectator_closing_cleanly(self):
        self.assertFreed(self.spectator, lambda peer: peer.send(frames.close_frame(1000)))

    def test_player_dropping(self):
        self.assertFreed(lambda: self.player(self.host_seat), lambda peer: peer.lose())

    def test_closed_by_the_server(self):
        self.assertFreed(self.spectator, lambda peer: peer.send(b"".join(text({}) for _ in range(25))))

    def test_game_removed(self):
        self.assertFreed(lambda: self.player(self.guest_seat),
                         lambda peer: self.lobby.remove("g1", wire.GAME_REMOVED))
