"""Tests for L{rpsa.edge}: the Host check, the request gate's route matching, the per-address limit."""

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from rpsa import edge
from rpsa.cors import CORSPolicy
from rpsa.edge import PerAddressLimit, RequestGate, host_problem, template_pattern
from rpsa.play.hooks import ServerHooks


class HostTests(SynchronousTestCase):

    def test_good(self):
        for host in (None, b"localhost", b"games.example.com:8080", b"127.0.0.1", b"[::1]:8080", b"xn--bcher-kva.ch"):
            self.assertIsNone(host_problem(host), host)

    def test_bad(self):
        for host in (b"[", b"a b", b"[::1", b"h:port", b"h:99999", b"\xff", b"a/b", b"a@b", b"", b"h\r\nx"):
            self.assertIsInstance(host_problem(host), str, host)


class GateTests(SynchronousTestCase):

    def test_allowed(self):
        gate = RequestGate(None, {"/api/games": ["GET", "POST"], "/api/games/{game_id}": ["DELETE", "GET"],
                                  "/create_game": ["POST"]})
        self.assertEqual(gate.allowed(b"/api/games"), ["GET", "HEAD", "OPTIONS", "POST"])
        self.assertEqual(gate.allowed(b"/api/games/a%2Fb"), ["DELETE", "GET", "HEAD", "OPTIONS"])
        self.assertEqual(gate.allowed(b"/create_game"), ["OPTIONS", "POST"])
        self.assertIsNone(gate.allowed(b"/api/games/a/b/c"))

    def test_allowed_remembered_within_bounds(self):
        """A path's methods are worked out once; past ALLOWED_CACHE_SIZE paths they are worked out each time,
        with the same answers."""
        self.patch(edge, "ALLOWED_CACHE_SIZE", 3)
        gate = RequestGate(None, {"/api/games/{game_id}": ["DELETE", "GET"], "/create_game": ["POST"]})
        worked_out = []
        real = gate._methods
        gate._methods = lambda path: worked_out.append(path) or real(path)
        paths = [b"/create_game", b"/api/games/g1", b"/nope", b"/api/games/g2", b"/api/games/g3"]
        first = [gate.allowed(path) for path in paths]
        again = [gate.allowed(path) for path in paths]
        self.assertEqual(first, again)
        self.assertEqual(first[:3], [["OPTIONS", "POST"], ["DELETE", "GET", "HEAD", "OPTIONS"], None])
        self.assertEqual(worked_out, paths + paths[3:])  # the first three remembered, the others not
        self.assertEqual(len(gate._allowed), 3)

    def test_cors_in_the_gate(self):
        """With a CORSPolicy, the gate answers preflights (after its own checks) and adds CORS headers."""
        inner = Resource()
        inner.isLeaf = True
        inner.render = lambda request: b"inner"
        gate = RequestGate(inner, {"/api/games": ["GET", "POST"]}, cors=CORSPolicy(["https://portal.test"]))

        def answer(method, host=b"rpsa.test", **headers):
            request = DummyRequest([b"api", b"games"])
            request.method, request.path = method, b"/api/games"
            request.requestHeaders.setRawHeaders(b"host", [host])
            for name, value in headers.items():
                request.requestHeaders.setRawHeaders(name.replace("_", "-").encode(), [value])
            body = gate.render(request)
            return request.responseCode or 200, request.responseHeaders, body

        code, headers, _ = answer(b"OPTIONS", origin=b"https://portal.test", access_control_request_method=b"POST")
        self.assertEqual((code, headers.getRawHeaders(b"access-control-allow-origin")), (204, [b"https://portal.test"]))
        code, headers, _ = answer(b"OPTIONS", origin=b"https://other.test", access_control_request_method=b"POST")
        self.assertEqual((code, headers.getRawHeaders(b"access-control-allow-origin")), (403, None))
        code, _, _ = answer(b"OPTIONS", host=b"[", origin=b"https://portal.test", access_control_request_method=b"POST")
        self.assertEqual(code, 400)  # a malformed request is refused before CORS
        code, headers, body = answer(b"GET", origin=b"https://portal.test")
        self.assertEqual((code, body, headers.getRawHeaders(b"access-control-allow-origin")),
                         (200, b"inner", [b"https://portal.test"]))
        code, headers, _ = answer(b"OPTIONS", origin=b"https://portal.test")  # not a preflight: Allow
        self.assertEqual((code, headers.getRawHeaders(b"allow")), (204, [b"GET, HEAD, OPTIONS, POST"]))

    def test_an_upgrade_answered_later(self):
        """An upgrade handler may answer with a Deferred: its resource, or its APIError, once it fires."""
        from twisted.internet import defer
        from twisted.web.server import NOT_DONE_YET

        from rpsa.edge import Upgrade
        from rpsa.web import APIError, error_response

        upgraded = Resource()
        upgraded.render = lambda request: b"upgraded"
        pending = []
        gate = RequestGate(None, {"/ws": ["GET"]}, upgrades=[
            Upgrade("/ws", lambda request: pending.pop(0), error_response)])

        def answer(d):
            pending.append(d)
            request = DummyRequest([b"ws"])
            request.channel = DummyChannel()  # connected
            request.method, request.path = b"GET", b"/ws"
            request.requestHeaders.setRawHeaders(b"upgrade", [b"websocket"])
            self.assertEqual(gate.render(request), NOT_DONE_YET)
            return request

        d = defer.Deferred()
        request = answer(d)
        self.assertEqual(request.written, [])  # nothing until the handler's Deferred fires
        d.callback(upgraded)
        self.assertEqual((b"".join(request.written), request.finished), (b"upgraded", 1))
        request = answer(defer.fail(APIError(503, "directory_unavailable", "Redis is unreachable")))
        self.assertEqual((request.responseCode, request.finished), (503, 1))
        self.assertIn(b"directory_unavailable", b"".join(request.written))
        request = answer(defer.fail(RuntimeError("a bug")))
        self.assertEqual((request.responseCode, request.finished), (500, 1))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_template_pattern(self):
        found = template_pattern("/api/games/{game_id}/players/{user_id}").match("/api/games/g%201/players/u")
        self.assertEqual(found.groupdict(), {"game_id": "g%201", "user_id": "u"})


class Hooks(ServerHooks):
    def __init__(self):
        self.dropped_reasons = []

    def dropped(self, reason):
        self.dropped_reasons.append(reason)


class PerAddressLimitTests(SynchronousTestCase):

    def test_limit_per_address(self):
        hooks = Hooks()
        limited = PerAddressLimit(Factory.forProtocol(Protocol), 2, hooks)
        limited.startFactory()
        a = IPv4Address("TCP", "10.0.0.1", 1)
        first, second = limited.buildProtocol(a), limited.buildProtocol(a)
        self.assertIsNone(limited.buildProtocol(a))
        self.assertIsNotNone(limited.buildProtocol(IPv4Address("TCP", "10.0.0.2", 1)))
        self.assertEqual(hooks.dropped_reasons, ["per_address"])
        first.makeConnection(StringTransport())
        first.connectionLost(None)
        self.assertIsNotNone(limited.buildProtocol(a))
        self.assertEqual(limited.connections, {"10.0.0.1": 2, "10.0.0.2": 1})

    def test_unix_sockets_unlimited(self):
        limited = PerAddressLimit(Factory.forProtocol(Protocol), 1)
        for _ in range(3):
            self.assertIsNotNone(limited.buildProtocol(UNIXAddress("/run/rpsa.sock")))
