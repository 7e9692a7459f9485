"""Tests of ``rpsa.tools.loadtest.client``: how a socket's end is named, and the HTTP client on StubTreq."""

import json

from twisted.internet import error as ierror
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.test.proto_helpers import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import resource
from treq.testing import StubTreq

from rpsa.tools.loadtest import cli
from rpsa.tools.loadtest.client import HttpClient, PlayerFactory, PlayerListener, PlayerProtocol, SocketOwner
from rpsa.tools.loadtest.statistics import Stats, Window


class RecordingListener(PlayerListener):
    """Records the kinds a socket reports on close."""

    def __init__(self):
        self.closed = []

    def on_close(self, role, kind):
        self.closed.append((role, kind))


class CloseKindTests(SynchronousTestCase):
    """Every way a player socket ends has loadgen.js's error name."""

    def kind(self, was_clean, code=None, lost=None, opened=True, upgrade_status=None):
        """close_kind of a PlayerProtocol in the given state."""
        proto = PlayerProtocol()
        proto.opened = opened
        proto._upgrade_status = upgrade_status
        proto._lost_reason = Failure(lost) if lost is not None else None
        return proto.close_kind(was_clean, code)

    def test_refused_upgrade(self):
        """An HTTP status other than 101 on the upgrade is ws_upgrade_status_<status>."""
        self.assertEqual(self.kind(False, upgrade_status=403), "ws_upgrade_status_403")

    def test_clean_close_by_the_server(self):
        """A clean close before GAME_COMPLETE is ws_unexpected_close_<code> (1005 without a code)."""
        self.assertEqual(self.kind(True, 4002), "ws_unexpected_close_4002")
        self.assertEqual(self.kind(True, None), "ws_unexpected_close_1005")

    def test_unclean_ends(self):
        """Aborted, dropped and reset connections, before and after opening."""
        self.assertEqual(self.kind(False, lost=ierror.ConnectionAborted()), "ws_error_aborted")
        self.assertEqual(self.kind(False, lost=ierror.ConnectionDone()), "ws_unexpected_close_1006")
        self.assertEqual(self.kind(False, lost=ierror.ConnectionDone(), opened=False), "ws_error_ECONNRESET")
        self.assertEqual(self.kind(False, lost=ierror.ConnectionLost()), "ws_error_ECONNRESET")
        self.assertEqual(self.kind(False), "ws_unexpected_close_1006")
        self.assertEqual(self.kind(False, opened=False), "ws_error_handshake")


class ConnectionFailedTests(SynchronousTestCase):
    """A socket that never connects is reported to its game by kind."""

    def failed(self, exc):
        """What the listener hears when connecting fails with ``exc``."""
        listener = RecordingListener()
        factory = PlayerFactory(MemoryReactorClock(), "ws://127.0.0.1:9/", 1, listener, SocketOwner())
        factory.clientConnectionFailed(None, Failure(exc))
        return listener.closed

    def test_kinds(self):
        """Refused, timed out and other failures are named; a connection we stopped ourselves is not an error."""
        self.assertEqual(self.failed(ierror.ConnectionRefusedError()), [(1, "ws_error_ECONNREFUSED")])
        self.assertEqual(self.failed(ierror.TimeoutError()), [(1, "ws_error_ETIMEDOUT")])
        self.assertEqual(self.failed(ierror.DNSLookupError()), [(1, "ws_error_other")])
        self.assertEqual(self.failed(ierror.UserError()), [])


class Replies(resource.Resource):
    """Answers every POST with a set status and body, recording what it was sent."""

    isLeaf = True

    def __init__(self, status, body):
        super().__init__()
        self.status, self.body, self.requests = status, body, []

    def render_POST(self, request):
        self.requests.append((request.getHeader("authorization"), json.loads(request.content.read())))
        request.setResponseCode(self.status)
        return self.body


class HttpClientTests(SynchronousTestCase):
    """HttpClient posts JSON and counts latency, successes and errors by kind."""

    def client(self, status, body, *argv):
        """An HttpClient on StubTreq whose every request gets ``status`` and ``body``; the window is 0..1000."""
        self.replies = Replies(status, body)
        self.stub = StubTreq(self.replies)
        self.clock = Clock()
        self.stats = Stats(Window(0, 1000))
        cfg = cli.parse_options(list(argv))
        return HttpClient(self.clock, cfg, self.stats, lambda: self.clock.seconds() * 1000, client=self.stub)

    def post(self, http, extract=lambda reply: reply["v"], expect=201):
        """Post one body and return what the Deferred fired with."""
        results = []
        http.post("http://127.0.0.1:1/api/games", {"user_id": "u"}, expect, extract).addCallback(results.append)
        self.stub.flush()
        self.assertEqual(len(results), 1)
        return results[0]

    def test_ok(self):
        """The expected status fires with the extracted value; latency and success are counted; the key is sent."""
        http = self.client(201, b'{"v": 7}', "--api-key", "k1")
        self.assertEqual(self.post(http), 7)
        self.assertEqual((self.stats.http_ok, self.stats.http_ok_in_window, len(self.stats.http_lat)), (1, 1, 1))
        self.assertEqual(self.replies.requests, [("Bearer k1", {"user_id": "u"})])

    def test_errors(self):
        """Another status, a body that is not JSON and an extract error are counted by kind and fire None."""
        self.assertIsNone(self.post(self.client(503, b"{}")))
        self.assertEqual(self.stats.errors, {"http_status_503": 1})
        self.assertIsNone(self.post(self.client(201, b"nope")))
        self.assertEqual(self.stats.errors, {"http_bad_json": 1})
        self.assertIsNone(self.post(self.client(201, b"{}"), extract=lambda reply: "!http_no_token"))
        self.assertEqual(self.stats.errors, {"http_no_token": 1})
        self.assertEqual(self.replies.requests, [(None, {"user_id": "u"})])

    def test_close(self):
        """Closing a client with nothing in flight fires at once."""
        results = []
        self.client(201, b"{}").close().addCallback(results.append)
        self.assertEqual(results, [None])
