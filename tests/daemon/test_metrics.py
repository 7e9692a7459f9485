"""rpsa.daemon.metrics: the hooks' counters, the scrape-time gauges, route labels and /metrics.

Every test renders the exposition text and parses it back with
``prometheus_client.parser``, so what is asserted is what Prometheus reads.
"""

from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, UnsupportedMethod
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from rpsa.matches.api import MatchHooks
from rpsa.play.hooks import ServerHooks
from rpsa.daemon.metrics import MAX_FAILURE_REASONS, Counters, Metrics, MetricsResource, RouteLabels, metrics_site
from rpsa.daemon.root import route_templates
from rpsa.play.ticker import TickScheduler
from rpsa.web import make_site
from tests.play.fakes import make_lobby


class FakeConn:
    """A connection as the hooks see it: only ``role``."""

    def __init__(self, role):
        self.role = role


class FakeGame:
    """A lobby game as the collector sees it: only ``state``."""

    def __init__(self, state):
        self.state = state


class FakeLobby:
    """A lobby as the collector sees it: ``games``, a dict of games."""

    max_games = 10000

    def __init__(self, *states):
        self.games = {str(i): FakeGame(state) for i, state in enumerate(states)}


class FakeRecord:
    """A launcher record as the collector sees it: only ``state``."""

    def __init__(self, state):
        self.state = state


class FakeLauncher:
    """A launcher as the collector sees it: ``list()`` of records."""

    max_matches = 100

    def __init__(self, *states):
        self.records = [FakeRecord(state) for state in states]

    def list(self):
        return list(self.records)


class FakeWarmPool:
    """A warm pool as the collector sees it: its size and its ready children."""

    warm = 4
    warm_ready = 3


class FakeRequest:
    """A finished request as ``http_request`` sees it: ``path`` and ``code``."""

    def __init__(self, path, code):
        self.path = path
        self.code = code


def make_metrics(lobby=None, launcher=None, warm_pool=None):
    """Counters labelling the server's routes, and Metrics over them (and the lobby, launcher and warm pool given)."""
    counters = Counters(RouteLabels(route_templates()))
    return counters, Metrics(counters, lobby=lobby, launcher=launcher, warm_pool=warm_pool)


def scrape(metrics):
    """The rendered metrics, parsed back: family name -> family."""
    return {family.name: family for family in text_string_to_metric_families(metrics.render().decode("utf-8"))}


def samples(family, suffix=""):
    """A family's samples named ``family.name + suffix``: frozenset of label items -> value."""
    return {
        frozenset(sample.labels.items()): sample.value
        for sample in family.samples
        if sample.name == family.name + suffix
    }


def by_label(family, label, suffix=""):
    """A family's samples keyed by the value of its one label."""
    return {dict(labels)[label]: value for labels, value in samples(family, suffix).items()}


class RegistryTests(SynchronousTestCase):
    """The metrics live in their own registry, and every family is rendered."""

    def test_own_registry(self):
        """A Metrics has its own registry, and registers nothing in prometheus_client's global one."""
        counters, metrics = make_metrics()
        self.assertIsNot(metrics.registry, REGISTRY)
        self.assertIsNone(REGISTRY.get_sample_value("rpsa_messages_received_total"))
        counters.received()
        self.assertEqual(metrics.registry.get_sample_value("rpsa_messages_received_total"), 1.0)
        self.assertIsNone(REGISTRY.get_sample_value("rpsa_messages_received_total"))

    def test_two_instances_are_independent(self):
        """Counting in one Metrics does not show in another."""
        (first, _), (_, second) = make_metrics(), make_metrics()
        first.received()
        self.assertEqual(samples(scrape(second)["rpsa_messages_received"], "_total"), {frozenset(): 0.0})

    def test_every_family_and_type(self):
        """A fresh Metrics renders every family with its type."""
        families = scrape(make_metrics()[1])
        self.assertEqual(
            {name: family.type for name, family in families.items()},
            {
                "rpsa_games": "gauge",
                "rpsa_connections": "gauge",
                "rpsa_matches": "gauge",
                "rpsa_limit": "gauge",
                "rpsa_matches_launched": "counter",
                "rpsa_launch_failures": "counter",
                "rpsa_messages_received": "counter",
                "rpsa_messages_rejected": "counter",
                "rpsa_tick_lag_seconds": "histogram",
                "rpsa_http_requests": "counter",
                "rpsa_games_completed": "counter",
            },
        )

    def test_sources(self):
        """Each source's metric families are added to every scrape (the Redis connection's)."""
        from prometheus_client.metrics_core import GaugeMetricFamily

        class Source:
            def metric_families(self):
                yield GaugeMetricFamily("rpsa_redis_connected", "1 while up.", value=1)

        metrics = Metrics(Counters(), sources=[Source()])
        self.assertEqual(samples(scrape(metrics)["rpsa_redis_connected"]), {frozenset(): 1.0})

    def test_is_server_hooks(self):
        """Counters is a ServerHooks and a MatchHooks, so the lobby, connections and match API take it as hooks."""
        self.assertIsInstance(Counters(), ServerHooks)
        self.assertIsInstance(Counters(), MatchHooks)


class GameGaugeTests(SynchronousTestCase):
    """rpsa_games counts the lobby's games by state when scraped."""

    def test_without_lobby(self):
        """Without a lobby, every state is 0."""
        self.assertEqual(
            by_label(scrape(make_metrics()[1])["rpsa_games"], "state"),
            {"waiting_for_players": 0.0, "character_selection": 0.0, "in_progress": 0.0},
        )

    def test_counts_by_state(self):
        """Games are counted by their state; a state with no game is 0; another state is left out."""
        lobby = FakeLobby("waiting_for_players", "in_progress", "waiting_for_players", "game_over")
        counters, metrics = make_metrics(lobby=lobby)
        self.assertEqual(
            by_label(scrape(metrics)["rpsa_games"], "state"),
            {"waiting_for_players": 2.0, "character_selection": 0.0, "in_progress": 1.0},
        )

    def test_computed_at_scrape(self):
        """The gauge follows the lobby between scrapes without any hook being called."""
        lobby = FakeLobby("character_selection")
        counters, metrics = make_metrics(lobby=lobby)
        self.assertEqual(by_label(scrape(metrics)["rpsa_games"], "state")["character_selection"], 1.0)
        lobby.games.clear()
        self.assertEqual(by_label(scrape(metrics)["rpsa_games"], "state")["character_selection"], 0.0)

    def test_real_lobby(self):
        """A game created in a real lobby is counted as waiting_for_players."""
        lobby, _, _ = make_lobby(Clock())
        counters, metrics = make_metrics(lobby=lobby)
        lobby.create("u1", "alice", "g1")
        self.assertEqual(by_label(scrape(metrics)["rpsa_games"], "state")["waiting_for_players"], 1.0)
        lobby.remove("g1")
        self.assertEqual(by_label(scrape(metrics)["rpsa_games"], "state")["waiting_for_players"], 0.0)


class ConnectionGaugeTests(SynchronousTestCase):
    """rpsa_connections follows the opened and closed hooks, by role."""

    def test_by_role(self):
        """Opened connections are counted by role, closed ones no longer."""
        counters, metrics = make_metrics()
        players = [FakeConn("player") for _ in range(3)]
        spectator = FakeConn("spectator")
        for conn in players + [spectator]:
            counters.opened(conn)
        counters.closed(players[0])
        self.assertEqual(
            by_label(scrape(metrics)["rpsa_connections"], "role"), {"player": 2.0, "spectator": 1.0}
        )

    def test_zero_at_start(self):
        """Both roles are rendered, at 0, before any connection."""
        self.assertEqual(
            by_label(scrape(make_metrics()[1])["rpsa_connections"], "role"), {"player": 0.0, "spectator": 0.0}
        )


class MatchMetricTests(SynchronousTestCase):
    """rpsa_matches from the launcher at scrape time, and the launch counters."""

    def test_matches_by_state(self):
        """Live records are counted by state; ended and failed ones are not."""
        counters, metrics = make_metrics(launcher=FakeLauncher("starting", "playing", "playing", "waiting", "ended", "failed"))
        self.assertEqual(
            by_label(scrape(metrics)["rpsa_matches"], "state"), {"starting": 1.0, "waiting": 1.0, "playing": 2.0}
        )

    def test_without_launcher(self):
        """Without a launcher, every state is 0."""
        self.assertEqual(
            by_label(scrape(make_metrics()[1])["rpsa_matches"], "state"), {"starting": 0.0, "waiting": 0.0, "playing": 0.0}
        )

    def test_launched(self):
        """match_ready (a launch succeeded) counts rpsa_matches_launched_total."""
        counters, metrics = make_metrics()
        counters.match_ready(None)
        counters.match_ready(None)
        self.assertEqual(samples(scrape(metrics)["rpsa_matches_launched"], "_total"), {frozenset(): 2.0})

    def test_failures_by_reason(self):
        """launch_failed counts rpsa_launch_failures_total by reason."""
        counters, metrics = make_metrics()
        counters.launch_failed("launch_timeout")
        counters.launch_failed("too_many_matches")
        counters.launch_failed("launch_timeout")
        self.assertEqual(
            by_label(scrape(metrics)["rpsa_launch_failures"], "reason", "_total"),
            {"launch_timeout": 2.0, "too_many_matches": 1.0},
        )

    def test_failure_reasons_bounded(self):
        """Past MAX_FAILURE_REASONS distinct reasons, new reasons are counted as other."""
        counters, metrics = make_metrics()
        for i in range(MAX_FAILURE_REASONS + 5):
            counters.launch_failed(f"code_{i}")
        counters.launch_failed("code_0")
        reasons = by_label(scrape(metrics)["rpsa_launch_failures"], "reason", "_total")
        self.assertEqual(len(reasons), MAX_FAILURE_REASONS + 1)
        self.assertEqual(reasons["other"], 5.0)
        self.assertEqual(reasons["code_0"], 2.0)


class MessageCounterTests(SynchronousTestCase):
    """rpsa_messages_received_total and rpsa_messages_rejected_total."""

    def test_received(self):
        """Each received() adds one."""
        counters, metrics = make_metrics()
        for _ in range(5):
            counters.received()
        self.assertEqual(samples(scrape(metrics)["rpsa_messages_received"], "_total"), {frozenset(): 5.0})

    def test_rejected_by_reason(self):
        """size, rate and invalid are counted apart."""
        counters, metrics = make_metrics()
        counters.rejected("size")
        counters.rejected("rate")
        counters.rejected("rate")
        counters.rejected("invalid")
        self.assertEqual(
            by_label(scrape(metrics)["rpsa_messages_rejected"], "reason", "_total"),
            {"size": 1.0, "rate": 2.0, "invalid": 1.0},
        )

    def test_unknown_reason(self):
        """A reason outside size, rate and invalid is counted as other (the label set stays bounded)."""
        counters, metrics = make_metrics()
        counters.rejected("something-new")
        self.assertEqual(by_label(scrape(metrics)["rpsa_messages_rejected"], "reason", "_total")["other"], 1.0)

    def test_games_completed(self):
        """game_completed counts rpsa_games_completed_total; lobby_changed changes nothing."""
        counters, metrics = make_metrics()
        counters.game_completed(object())
        counters.lobby_changed(FakeLobby("in_progress"))
        families = scrape(metrics)
        self.assertEqual(samples(families["rpsa_games_completed"], "_total"), {frozenset(): 1.0})
        self.assertEqual(by_label(families["rpsa_games"], "state")["in_progress"], 0.0)


class TickLagTests(SynchronousTestCase):
    """rpsa_tick_lag_seconds: a histogram from 1 ms to 5 s."""

    def test_buckets(self):
        """Observations land in cumulative le buckets, with their count and sum."""
        counters, metrics = make_metrics()
        for lag in (0.0005, 0.001, 0.003, 0.2, 4.0, 7.0):
            counters.tick_lag(lag)
        family = scrape(metrics)["rpsa_tick_lag_seconds"]
        buckets = by_label(family, "le", "_bucket")
        self.assertEqual(list(buckets), ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                         "0.5", "1.0", "2.5", "5.0", "+Inf"])
        self.assertEqual(buckets["0.001"], 2.0)  # le is inclusive
        self.assertEqual(buckets["0.0025"], 2.0)
        self.assertEqual(buckets["0.005"], 3.0)
        self.assertEqual(buckets["0.25"], 4.0)
        self.assertEqual(buckets["5.0"], 5.0)
        self.assertEqual(buckets["+Inf"], 6.0)
        self.assertEqual(samples(family, "_count"), {frozenset(): 6.0})
        self.assertAlmostEqual(samples(family, "_sum")[frozenset()], 11.2045)

    def test_early_tick_is_zero(self):
        """A tick run early (negative lag) counts as 0 s."""
        counters, metrics = make_metrics()
        counters.tick_lag(-0.0008)
        family = scrape(metrics)["rpsa_tick_lag_seconds"]
        self.assertEqual(by_label(family, "le", "_bucket")["0.001"], 1.0)
        self.assertEqual(samples(family, "_sum"), {frozenset(): 0.0})

    def test_fed_by_scheduler(self):
        """TickScheduler(hooks=counters) records one observation per tick."""

        class Item:
            def tick(self):
                pass

        clock = Clock()
        counters, metrics = make_metrics()
        scheduler = TickScheduler(clock, 1.0, hooks=counters)
        scheduler.add(Item())
        for _ in range(3):
            clock.advance(1.0)
        self.assertEqual(samples(scrape(metrics)["rpsa_tick_lag_seconds"], "_count"), {frozenset(): 3.0})


class HTTPRequestTests(SynchronousTestCase):
    """rpsa_http_requests_total by route template and status."""

    def test_counts_by_route_and_status(self):
        """Requests are counted by (route template, status); ids do not become labels."""
        counters, metrics = make_metrics()
        counters.http_request(FakeRequest(b"/api/games/abc", 200))
        counters.http_request(FakeRequest(b"/api/games/def", 200))
        counters.http_request(FakeRequest(b"/api/games/zzz", 404))
        counters.http_request(FakeRequest(b"/wp-admin/x.php", 404))
        self.assertEqual(
            samples(scrape(metrics)["rpsa_http_requests"], "_total"),
            {
                frozenset({("route", "/api/games/{game_id}"), ("status", "200")}): 2.0,
                frozenset({("route", "/api/games/{game_id}"), ("status", "404")}): 1.0,
                frozenset({("route", "other"), ("status", "404")}): 1.0,
            },
        )

    def test_twisted_request(self):
        """A twisted.web Request is counted by its path, without its query string."""
        request = Request(DummyChannel())
        request.method = b"GET"
        request.uri = b"/api/match/m1?x=1"
        request.path = b"/api/match/m1"
        request.code = 503
        counters, metrics = make_metrics()
        counters.http_request(request)
        self.assertEqual(
            samples(scrape(metrics)["rpsa_http_requests"], "_total"),
            {frozenset({("route", "/api/match/{match_id}"), ("status", "503")}): 1.0},
        )

    def test_from_site_log(self):
        """A Site whose log calls http_request counts the requests it logs."""
        counters, metrics = make_metrics()
        site = make_site(Resource(), reactor=Clock())
        original_log = site.log

        def log(request):
            original_log(request)
            counters.http_request(request)

        site.log = log
        request = Request(DummyChannel())
        request.method, request.uri, request.path, request.clientproto = b"GET", b"/healthz", b"/healthz", b"HTTP/1.1"
        site.log(request)
        self.assertEqual(
            samples(scrape(metrics)["rpsa_http_requests"], "_total"),
            {frozenset({("route", "/healthz"), ("status", "200")}): 1.0},
        )


class RouteLabelTests(SynchronousTestCase):
    """RouteLabels over the server's route templates maps request paths to low-cardinality labels."""

    CASES = [
        (b"/healthz", "/healthz"),
        (b"/metrics", "/metrics"),
        (b"/api/access", "/api/access"),
        (b"/api/characters", "/api/characters"),
        (b"/api/games", "/api/games"),
        (b"/api/games/abc", "/api/games/{game_id}"),
        (b"/api/games/a%2Fb", "/api/games/{game_id}"),
        (b"/api/games/abc/players", "/api/games/{game_id}/players"),
        (b"/api/games/abc/players/u1", "/api/games/{game_id}/players/{user_id}"),
        (b"/api/games/abc/ws", "/api/games/{game_id}/ws"),
        (b"/api/match", "/api/match"),
        (b"/api/match/m-1", "/api/match/{match_id}"),
        (b"/create_game", "/create_game"),
        (b"/join_game", "/join_game"),
        (b"/remove_game", "/remove_game"),
        (b"/remove_player", "/remove_player"),
        (b"/active_games", "/active_games"),
        (b"/", "/"),
        (b"/?game_token=T&user_id=U", "/"),
        (b"/console", "/console"),
        (b"/static/app.js", "/static/{name}"),
        (b"/api/games/abc/ws?token=T", "/api/games/{game_id}/ws"),
        (b"/api/games/", "other"),
        (b"/api/games/abc/players/u1/more", "other"),
        (b"/api/nope", "other"),
        (b"/favicon.ico", "other"),
        (b"", "other"),
        ("/api/match/m1", "/api/match/{match_id}"),
    ]

    def test_table(self):
        """Every case maps to its template; unknown paths map to other."""
        routes = RouteLabels(route_templates())
        for path, route in self.CASES:
            self.assertEqual(routes.label(path), route, path)

    def test_templates_are_the_labels(self):
        """The route labels are the templates plus other: a bounded set; every route has its template."""
        routes = RouteLabels(route_templates())
        labels = set(routes.templates) | {"other"}
        self.assertEqual({routes.label(path) for path, _ in self.CASES} - labels, set())
        self.assertEqual(set(routes.templates) - {route for _, route in self.CASES}, set())

    def test_no_templates(self):
        """Without templates every path is other."""
        self.assertEqual(RouteLabels(()).label(b"/healthz"), "other")


class ResourceTests(SynchronousTestCase):
    """MetricsResource answers GET with the exposition text."""

    def test_get(self):
        """GET answers the rendered metrics with CONTENT_TYPE_LATEST."""
        counters, metrics = make_metrics()
        counters.received()
        request = DummyRequest([b""])
        body = MetricsResource(metrics).render(request)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"content-type"), [CONTENT_TYPE_LATEST.encode()])
        families = {f.name: f for f in text_string_to_metric_families(body.decode("utf-8"))}
        self.assertEqual(samples(families["rpsa_messages_received"], "_total"), {frozenset(): 1.0})

    def test_post_refused(self):
        """Any method but GET (and HEAD) is refused."""
        request = DummyRequest([b""])
        request.method = b"POST"
        self.assertRaises(UnsupportedMethod, MetricsResource(make_metrics()[1]).render, request)

    def test_metrics_site(self):
        """metrics_site serves a MetricsResource and writes no access log line."""
        site = metrics_site(make_metrics()[1], reactor=Clock())
        self.assertIsInstance(site.resource, MetricsResource)
        self.assertFalse(site.noisy)
        site.startFactory()
        self.addCleanup(site.stopFactory)
        written = []

        class Collector:
            def write(self, data):
                written.append(data)

            def close(self):
                pass

        site.logFile = Collector()
        request = Request(DummyChannel())
        request.method, request.uri, request.path, request.clientproto = b"GET", b"/metrics", b"/metrics", b"HTTP/1.1"
        site.log(request)
        self.assertEqual(written, [])


class LimitTests(SynchronousTestCase):
    """The configured limits and the warm pool are exported, so alerts need not hard-code them."""

    def test_limits_and_warm_pool(self):
        """rpsa_limit carries max_games, max_matches and warm_matches; rpsa_warm_matches_ready the pool."""
        counters, metrics = make_metrics(lobby=FakeLobby(), launcher=FakeLauncher(), warm_pool=FakeWarmPool())
        families = scrape(metrics)
        self.assertEqual(by_label(families["rpsa_limit"], "limit"),
                         {"max_games": 10000, "max_matches": 100, "warm_matches": 4})
        self.assertEqual(samples(families["rpsa_warm_matches_ready"]), {frozenset(): 3})
