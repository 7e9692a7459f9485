"""rpsa.daemon.root: /healthz, /metrics, and the three APIs mounted by branch, in memory."""

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from rpsa.daemon.metrics import Counters, Metrics
from rpsa.daemon.root import route_templates
from tests.lobby.apicase import KEY, APITestCase


class HealthTests(APITestCase):
    """``/healthz``."""

    def test_healthz(self):
        """GET /healthz answers 200 ``{"status": "ok"}``."""
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (200, {"status": "ok"}))

    def test_draining(self):
        """While the drain state is active /healthz answers 503 draining, and new games are refused."""
        self.draining.active = True
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (503, {"status": "draining"}))
        self.assertError(self.call("POST", "/api/games", {"user_id": "u", "username": "U"}), 503, "draining")

    def test_json_content_type(self):
        """Answers are JSON and not cacheable."""
        answer = self.call("GET", "/healthz")
        self.assertEqual(answer.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(answer.headers.getRawHeaders(b"cache-control"), [b"no-store"])


class MountTests(APITestCase):
    """What no mounted API routes."""

    def test_unknown_api_route(self):
        """An unknown /api/ route is a JSON 404 not_found."""
        self.assertError(self.call("GET", "/api/nothing/here"), 404, "not_found")

    def test_match_launcher_off(self):
        """Without a match API, /api/match is 404 not_found."""
        self.assertError(self.call("GET", "/api/match"), 404, "not_found")
        self.assertError(self.call("GET", "/api/match/m1"), 404, "not_found")

    def test_metrics_off(self):
        """Without metrics, /metrics is 404 not_found."""
        self.assertError(self.call("GET", "/metrics"), 404, "not_found")

    def test_route_templates(self):
        """Every route of the tree, mount points joined, catch-alls left out."""
        self.assertEqual(route_templates(), [
            "/healthz", "/metrics", "/api/match", "/api/match/{match_id}", "/api/characters", "/api/games",
            "/api/games/{game_id}", "/api/games/{game_id}/players", "/api/games/{game_id}/players/{user_id}",
            "/api/games/{game_id}/ws", "/create_game", "/join_game", "/remove_game", "/remove_player",
            "/active_games", "/",
        ])


class MetricsRouteTests(APITestCase):
    """``/metrics`` on the main listeners needs the API key."""

    api_key = KEY

    def setUp(self):
        self.counters = Counters()
        self.metrics = Metrics(self.counters)
        super().setUp()

    def test_needs_the_key(self):
        """Without the key 401; with it the exposition text."""
        self.assertError(self.call("GET", "/metrics", auth=None), 401, "unauthorized")
        self.counters.received()
        answer = self.call("GET", "/metrics")
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE_LATEST.encode()])
        self.assertIn(b"rpsa_messages_received_total 1.0", answer.raw)

    def test_healthz_exempt(self):
        """/healthz needs no key."""
        self.assertEqual(self.call("GET", "/healthz", auth=None).code, 200)
