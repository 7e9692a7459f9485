"""CORS: preflights, headers for allowed origins only, the API key still required (StubTreq).

The policy is exercised where the daemon applies it: in the :class:`~rpsa.edge.RequestGate`.
"""

from klein import Klein
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.trial.unittest import TestCase

from rpsa.cors import CORSPolicy, normalize_origin
from rpsa.edge import RequestGate
from rpsa.web import AccessPolicy, json_response, route_table

ALLOWED = "https://portal.example"


class _App:
    app = Klein()

    def __init__(self):
        self.access = AccessPolicy("key")

    @app.route("/api/games", methods=["GET"])
    def games(self, request):
        if not self.access.allowed(request):
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="rpsa"')
            return json_response(request, {"error": {"code": "unauthorized", "message": "key"}}, 401)
        return json_response(request, [])

    @app.route("/create_game", methods=["POST"])
    def create(self, request):
        return json_response(request, {"gameToken": "t"})


def client(origins):
    """StubTreq over the app behind a RequestGate with the CORS policy of ``origins`` (as the daemon has it)."""
    return StubTreq(RequestGate(_App().app.resource(), route_table(_App.app), cors=CORSPolicy(origins)))


class OriginTests(TestCase):
    def test_normalize(self):
        self.assertEqual(normalize_origin("HTTPS://Portal.Example:443/"), "https://portal.example")
        self.assertEqual(normalize_origin("http://localhost:8080"), "http://localhost:8080")
        self.assertEqual(normalize_origin("*"), "*")
        for bad in ("portal.example", "ftp://x", "https://x/path", "https://x?q", "https://u:p@x", "https://x:99999"):
            with self.subTest(bad=bad):
                self.assertRaises(ValueError, normalize_origin, bad)

    def test_policy(self):
        policy = CORSPolicy([ALLOWED, "http://localhost:3000"])
        self.assertTrue(policy.allows("https://portal.example"))
        self.assertTrue(policy.allows("https://PORTAL.example:443"))
        self.assertFalse(policy.allows("https://evil.example"))
        self.assertFalse(policy.allows("null"))
        self.assertTrue(CORSPolicy(["*"]).allows("null"))


class CORSTests(TestCase):
    @defer.inlineCallbacks
    def preflight(self, treq, origin, path="/api/games", method="GET"):
        response = yield treq.request("OPTIONS", f"http://rpsa{path}", headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type"})
        body = yield response.content()
        return response, body

    def header(self, response, name):
        values = response.headers.getRawHeaders(name)
        return values[0] if values else None

    @defer.inlineCallbacks
    def test_preflight_from_an_allowed_origin_needs_no_key(self):
        response, body = yield self.preflight(client([ALLOWED]), ALLOWED)
        self.assertEqual((response.code, body), (204, b""))
        self.assertEqual(self.header(response, "Access-Control-Allow-Origin"), ALLOWED)
        self.assertEqual(self.header(response, "Access-Control-Allow-Methods"), "GET, POST, PUT, DELETE")
        self.assertEqual(self.header(response, "Access-Control-Allow-Headers"), "Authorization, Content-Type")
        self.assertEqual(self.header(response, "Access-Control-Max-Age"), "600")
        self.assertEqual(self.header(response, "Vary"), "Origin")

    @defer.inlineCallbacks
    def test_preflight_from_another_origin_is_refused(self):
        response, body = yield self.preflight(client([ALLOWED]), "https://evil.example")
        self.assertEqual(response.code, 403)
        self.assertIsNone(self.header(response, "Access-Control-Allow-Origin"))
        self.assertIn(b'"origin_not_allowed"', body)
        response, body = yield self.preflight(client([ALLOWED]), "https://evil.example", "/create_game", "POST")
        self.assertEqual(response.code, 403)
        self.assertTrue(body.startswith(b'{"message":'))

    @defer.inlineCallbacks
    def test_any_origin(self):
        response, _ = yield self.preflight(client(["*"]), "https://anyone.example", "/create_game", "POST")
        self.assertEqual(response.code, 204)
        self.assertEqual(self.header(response, "Access-Control-Allow-Origin"), "https://anyone.example")

    @defer.inlineCallbacks
    def test_actual_request_from_an_allowed_origin(self):
        response = yield client([ALLOWED]).get("http://rpsa/api/games", headers={
            "Origin": ALLOWED, "Authorization": "Bearer key"})
        self.assertEqual(response.code, 200)
        self.assertEqual(self.header(response, "Access-Control-Allow-Origin"), ALLOWED)
        self.assertEqual(self.header(response, "Vary"), "Origin")

    @defer.inlineCallbacks
    def test_the_key_is_still_required(self):
        response = yield client([ALLOWED]).get("http://rpsa/api/games", headers={"Origin": ALLOWED})
        self.assertEqual(response.code, 401)
        # The page may read the refusal (and its WWW-Authenticate) to tell its user.
        self.assertEqual(self.header(response, "Access-Control-Allow-Origin"), ALLOWED)
        self.assertEqual(self.header(response, "Access-Control-Expose-Headers"), "WWW-Authenticate")

    @defer.inlineCallbacks
    def test_actual_request_from_another_origin_gets_no_cors_header(self):
        response = yield client([ALLOWED]).post("http://rpsa/create_game", headers={"Origin": "https://evil.example"})
        self.assertEqual(response.code, 200)  # answered (a browser hides it from the page)
        self.assertIsNone(self.header(response, "Access-Control-Allow-Origin"))
        self.assertEqual(self.header(response, "Vary"), "Origin")

    @defer.inlineCallbacks
    def test_without_origin_nothing_changes(self):
        response = yield client([ALLOWED]).post("http://rpsa/create_game")
        self.assertEqual(response.code, 200)
        self.assertIsNone(self.header(response, "Vary"))
        self.assertIsNone(self.header(response, "Access-Control-Allow-Origin"))

    @defer.inlineCallbacks
    def test_options_that_is_not_a_preflight_is_answered_by_the_gate(self):
        """An OPTIONS without Access-Control-Request-Method is no preflight: 204 with Allow (and the CORS
        headers of an allowed origin), as for any OPTIONS on a route."""
        response = yield client([ALLOWED]).request("OPTIONS", "http://rpsa/api/games", headers={"Origin": ALLOWED})
        self.assertEqual(response.code, 204)
        self.assertEqual(self.header(response, "Allow"), "GET, HEAD, OPTIONS")
        self.assertEqual(self.header(response, "Access-Control-Allow-Origin"), ALLOWED)
