"""Tests for L{rpsa.play.fastpath}: the frame preparer, the GC tuning, the upgrade's release,
and a guard that notices when the library code an override depends on changes."""

import gc
import hashlib
import importlib
import inspect
import weakref
from importlib import metadata

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase
from txaio.testutil import replace_loop

from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.games import Lobby
from rpsa.play import fastpath, wire
from rpsa.play.fastpath import FramePreparer, UpgradeResource, shared_event_key
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.rules.events import GameEventType, RoundEventType, game_event, round_event, state_change
from rpsa.web import AccessPolicy, URLBuilder, make_site

# What each trick of rpsa.play.fastpath replaces or relies on in the installed
# libraries, with the first 16 hex digits of the SHA-256 of that code's source
# (inspect.getsource) when the trick was last checked: (trick, distribution,
# module, qualified name, what to re-check, digest).
GUARDED = [
    ("FastPathProtocol.dataReceived", "autobahn", "autobahn.twisted.websocket", "WebSocketAdapterProtocol.dataReceived",
     "it still only logs at debug level and forwards to _dataReceived", "7997f762de218433"),
    ("FastPathProtocol.dataReceived", "autobahn", "autobahn.websocket.protocol", "WebSocketProtocol._dataReceived",
     "it still takes the raw bytes and runs the frame parser", "b6616694f9d65410"),
    ("FastPathProtocol.onMessageEnd", "autobahn", "autobahn.websocket.protocol", "WebSocketProtocol.onMessageBegin",
     "message_data is still a list of chunks and message_is_binary the message's kind", "1c5cb3b3e3eb227b"),
    ("FastPathProtocol.onMessageEnd", "autobahn", "autobahn.websocket.protocol", "WebSocketProtocol.onMessageEnd",
     "it does nothing rpsa needs besides calling onMessage and firing the observers' 'message' event",
     "efff2a43ca8540d0"),
    ("FastPathProtocol._max_message_size_exceeded", "autobahn", "autobahn.websocket.protocol",
     "WebSocketProtocol._max_message_size_exceeded",
     "it is still the hook for an oversized message, called before the payload is buffered", "6b5977afbff991c3"),
    ("FastPathProtocol._max_message_size_exceeded", "autobahn", "autobahn.websocket.protocol",
     "WebSocketProtocol._fail_connection",
     "with failByDrop False it still sends a closing handshake with the given code", "00c349e066d658bf"),
    ("FastPathProtocol.write_prepared", "autobahn", "autobahn.websocket.protocol", "WebSocketProtocol.sendPreparedMessage",
     "without compression it still only sends payloadHybi through sendData", "207ccbb3f0d5085c"),
    ("FastPathProtocol.write_prepared", "autobahn", "autobahn.websocket.protocol", "WebSocketProtocol.sendData",
     "with an empty send_queue and no sync it still writes straight to the transport", "5dcca425b048b07e"),
    ("FramePreparer.prepare", "autobahn", "autobahn.websocket.protocol", "PreparedMessage.__init__",
     "payloadHybi is still the whole frame and payload the unframed text", "76eab585334bdb71"),
    ("FramePreparer.prepare", "autobahn", "autobahn.websocket.protocol", "WebSocketFactory.prepareMessage",
     "a server factory still builds PreparedMessage(payload, isBinary, False, doNotCompress)", "3be1cd429391b2ec"),
    ("FastPathProtocol.forget_handshake", "autobahn", "autobahn.websocket.protocol",
     "WebSocketServerProtocol.processHandshake",
     "the attributes it keeps of the handshake are still the _HANDSHAKE_LEFTOVERS, unread once open",
     "0055f4d349937673"),
    ("FastPathProtocol.forget_handshake", "autobahn", "autobahn.websocket.protocol",
     "WebSocketServerProtocol.succeedHandshake",
     "the attributes it keeps of the handshake are still the _HANDSHAKE_LEFTOVERS, unread once open",
     "fb43d387929cf206"),
    ("UpgradeResource.render", "autobahn", "autobahn.twisted.resource", "WebSocketResource.render",
     "it still takes the channel's transport (leaving channel.transport None) and does not release the channel",
     "6ecfc501d8f550fb"),
    ("UpgradeResource.render", "twisted", "twisted.web.http", "HTTPChannel.connectionMade",
     "the channel still registers itself as producer on _networkProducer and starts an idle timer",
     "95b71a1bc3abb905"),
]


def _resolve(module, qualname):
    target = importlib.import_module(module)
    for name in qualname.split("."):
        target = getattr(target, name)
    return target


def _digest(target):
    return hashlib.sha256(inspect.getsource(target).encode("utf-8")).hexdigest()[:16]


class LibraryGuardTests(SynchronousTestCase):
    """The library code each override replaces or relies on is the code it was checked against."""

    def test_guarded_code_unchanged(self):
        """Every guarded function's source hashes as recorded; a change names the override to re-check."""
        changed = []
        for trick, dist, module, qualname, recheck, digest in GUARDED:
            where = f"{module}.{qualname} ({dist} {metadata.version(dist)})"
            try:
                now = _digest(_resolve(module, qualname))
            except (AttributeError, ImportError):
                changed.append(f"{trick}: {where} is gone; rework rpsa.play.fastpath.{trick}")
                continue
            if now != digest:
                changed.append(
                    f"{trick}: {where} changed: re-check that {recheck}, that the override still does what the "
                    f"library's own code did (and still buys what its comment says), then record {now!r} here")
        self.assertEqual(changed, [], "\n" + "\n".join(changed))

    def test_every_override_is_guarded(self):
        """Each method FastPathProtocol and UpgradeResource override has an entry in GUARDED."""
        guarded = {trick for trick, *_ in GUARDED}
        for cls in (fastpath.FastPathProtocol, UpgradeResource):
            base = cls.__mro__[1]
            for name, value in vars(cls).items():
                if inspect.isfunction(value) and hasattr(base, name):
                    self.assertIn(f"{cls.__name__}.{name}", guarded)


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


class TuneGCTests(SynchronousTestCase):
    """tune_gc freezes the heap and raises the young generation's threshold."""

    def test_tune_gc(self):
        """gc.freeze() then gc.set_threshold(GC_THRESHOLD, 50, 100)."""
        calls = []
        self.patch(gc, "freeze", lambda: calls.append("freeze"))
        self.patch(gc, "set_threshold", lambda *args: calls.append(args))
        fastpath.tune_gc()
        self.assertEqual(calls, ["freeze", (fastpath.GC_THRESHOLD, 50, 100)])


class UpgradeReleaseTests(SynchronousTestCase):
    """After the upgrade, nothing keeps the HTTP channel or request alive."""

    def setUp(self):
        self.clock = MemoryReactorClock()
        loop = replace_loop(self.clock)  # Autobahn's timers on the clock too
        loop.__enter__()
        self.addCleanup(loop.__exit__, None, None, None)
        scheduler = TickScheduler(self.clock, 1.0)
        self.lobby = Lobby(self.clock, GameSettings(), scheduler)
        self.addCleanup(self.lobby.close_all, 1000, "done")
        self.site = make_site(LobbyAPI(self.lobby, AccessPolicy(None), URLBuilder(None)).resource(), self.clock)
        self.seat = self.lobby.create("u1", "U1", "g1")[1]

    def upgrade(self, render):
        """Upgrade a request for g1's WebSocket through ``render``; returns weak references to its request and channel."""
        seen = []

        def spy(resource, request):
            seen.append((weakref.ref(request), weakref.ref(request.channel)))
            return render(resource, request)

        self.patch(UpgradeResource, "render", spy)
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransportWithDisconnection()
        transport.protocol = channel
        channel.makeConnection(transport)
        channel.dataReceived(
            # The lobby API alone, at the site's root: its routes are relative to its /api/ mount point.
            f"GET /games/g1/ws?token={self.seat.token} HTTP/1.1\r\nHost: localhost\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.assertIn(b'{"type":"welcome"', transport.value())
        del channel
        gc.collect()
        (refs,) = seen
        return refs

    def test_request_is_released(self):
        """The upgraded HTTP request and its channel are garbage once the WebSocket is open."""
        request, channel = self.upgrade(UpgradeResource.render)
        self.assertEqual((request(), channel()), (None, None), "the upgraded HTTP request is still referenced")

    def test_autobahn_alone_keeps_them(self):
        """Without the release (Autobahn's own render) both stay referenced: the test above can fail."""
        request, channel = self.upgrade(WebSocketResource.render)
        self.assertIsNotNone(request())
        self.assertIsNotNone(channel())
