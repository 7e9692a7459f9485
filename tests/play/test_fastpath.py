"""Tests for L{rpsa.play.fastpath}: the frame preparer, the GC tuning, the upgrade's release,
and a guard that notices when the library code an override depends on changes."""

import gc
import hashlib
import importlib
import inspect
import weakref
from importlib import metadata

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SynchronousTestCase, TestCase

from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.games import Lobby
from rpsa.play import fastpath, wire
from rpsa.play.fastpath import FramePreparer, UpgradeResource, shared_event_key
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.rules.events import GameEventType, RoundEventType, game_event, round_event, state_change
from rpsa.web import AccessPolicy, URLBuilder, make_site
from tests.support.wsclient import connect, of_type

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


class UpgradeReleaseTests(TestCase):
    """After the upgrade, nothing keeps the HTTP channel or request alive."""

    timeout = 30

    @defer.inlineCallbacks
    def test_request_is_released(self):
        """The upgraded request is garbage once the WebSocket is open."""
        scheduler = TickScheduler(reactor, 1.0)
        lobby = Lobby(reactor, GameSettings(ping_interval=0), scheduler)  # no ping timers to outlive the test
        site = make_site(LobbyAPI(lobby, AccessPolicy(None), URLBuilder(None)).resource(), reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.addCleanup(lobby.close_all, 1000, "done")
        self.addCleanup(scheduler.stop)
        session, seat = lobby.create("u1", "U1", "g1")

        seen = []
        original = UpgradeResource.render

        def render(resource, request):
            seen.append((weakref.ref(request), request.channel))
            return original(resource, request)

        self.patch(UpgradeResource, "render", render)
        client = yield connect(reactor, f"ws://127.0.0.1:{port.getHost().port}/api/games/g1/ws?token={seat.token}")
        yield client.wait_for(of_type("welcome"))
        (request_ref, channel), = seen
        del seen[:], channel
        gc.collect()
        self.assertIsNone(request_ref(), "the upgraded HTTP request is still referenced")
        client.sendClose(1000)
        yield client.closed
        # Autobahn's batched timers fire (as no-ops) up to a bucket after they were cancelled.
        yield task.deferLater(reactor, 2.5, lambda: None)
