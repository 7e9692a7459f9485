"""Prometheus metrics of the daemon: :class:`Counters` implements the hooks, :class:`Metrics` renders.

:class:`Counters` is built first (the lobby, the scheduler and the launcher
report to it); :class:`Metrics` is built once they exist, from the counters
and the objects it counts at scrape time.  HTTP requests are counted by route
template (:class:`RouteLabels`), from the route table of the apps themselves.

The hooks run on the reactor thread for every WebSocket message, thousands of
times a second, so they only add to plain ``int`` attributes and dicts; a
custom collector turns them into metric families when Prometheus scrapes.
A ``prometheus_client.Counter`` takes a lock on every ``inc()``: measured with
``timeit`` (CPython 3.11), ``received()`` costs about 30 ns here against about
240 ns through ``Counter.inc()``, and ``rejected(reason)`` about 60 ns against
about 900 ns through ``Counter.labels(reason).inc()``.

Gauges that describe state (games by state, matches by state) are not kept
up to date by the hooks at all: they are counted from the lobby and the
launcher at scrape time, so they cannot drift.

Everything here runs on the reactor thread: the hooks, and :meth:`Metrics.render`
(called by :class:`MetricsResource`).  Nothing is locked.

The metrics live in the instance's own ``CollectorRegistry``, never in
``prometheus_client``'s global one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Dict, Iterator, List, Optional, Pattern, Sequence, Tuple

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from twisted.web.resource import Resource
from twisted.web.server import Site

from rpsa.matches.api import MatchHooks
from rpsa.matches.launcher import MatchObserver
from rpsa.matches.stdio import LIVE_STATES
from rpsa.play.hooks import ServerHooks
from rpsa.web import SiteHooks

GAME_STATES = ("waiting_for_players", "character_selection", "in_progress")
ROLES = ("player", "spectator")
REJECT_REASONS = ("size", "rate", "invalid")

# How late a tick runs: from 1 ms (on time) to 5 s (the process is stalled).
TICK_LAG_BUCKETS: Tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Launch failure reasons are error codes; a child could in principle report
# any code, so past this many distinct reasons new ones are counted as "other".
MAX_FAILURE_REASONS = 32

OTHER = "other"

class RouteLabels:
    """Maps request paths to their route template, a low-cardinality label.

    ``templates``: the route templates (``/api/games/{game_id}``), from
    :func:`rpsa.daemon.root.route_templates`.  A parameter matches one raw
    (still percent-encoded) path segment, so an id holding an encoded slash
    stays one segment.  Any other path is ``other``.
    """

    def __init__(self, templates: Sequence[str]):
        self.templates = list(templates)
        self._table: List[Tuple[Pattern[str], str]] = [(_pattern(t), t) for t in self.templates]

    def label(self, path) -> str:
        """The route template of a request path (``bytes`` or ``str``, query ignored), or ``"other"``."""
        if isinstance(path, bytes):
            path = path.decode("latin-1")
        path = path.split("?", 1)[0]
        for pattern, route in self._table:
            if pattern.fullmatch(path):
                return route
        return OTHER


def _pattern(template: str) -> Pattern[str]:
    return re.compile("[^/]+".join(re.escape(part) for part in re.split(r"\{[^{}/]+\}", template)))


class Counters(ServerHooks, MatchHooks, MatchObserver, SiteHooks):
    """The counters the hooks feed: server hooks, match hooks, tick lag, launches and HTTP requests.

    ``routes``: the :class:`RouteLabels` HTTP requests are counted by (None:
    every request counts as ``other``).  Feed tick lag with
    ``TickScheduler(hooks=counters)``.
    """

    def __init__(self, routes: Optional[RouteLabels] = None) -> None:
        self._routes = routes if routes is not None else RouteLabels(())
        self._received = 0
        self._rejected: Dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        self._connections: Dict[str, int] = dict.fromkeys(ROLES, 0)
        self._games_completed = 0
        self._launched = 0
        self._launch_failures: Dict[str, int] = {}
        self._http: Dict[Tuple[str, str], int] = {}
        # Tick lag: per-bucket (not cumulative) counts, the last one for +Inf.
        self._lag_counts: List[int] = [0] * (len(TICK_LAG_BUCKETS) + 1)
        self._lag_sum = 0.0

    # -- ServerHooks (per message and per connection: keep these cheap) -------

    def opened(self, conn) -> None:
        role = conn.role
        counts = self._connections
        counts[role] = counts.get(role, 0) + 1

    def closed(self, conn) -> None:
        role = conn.role
        counts = self._connections
        counts[role] = counts.get(role, 0) - 1

    def received(self) -> None:
        self._received += 1

    def rejected(self, reason: str) -> None:
        counts = self._rejected
        if reason in counts:
            counts[reason] += 1
        else:
            counts[OTHER] = counts.get(OTHER, 0) + 1

    def game_completed(self, session) -> None:
        self._games_completed += 1

    def lobby_changed(self, lobby) -> None:
        # Games are counted from the lobby at scrape time: nothing to do here.
        pass

    # -- other sources ----------------------------------------------------------

    def tick_lag(self, seconds: float, _bisect=bisect_left, _bounds=TICK_LAG_BUCKETS) -> None:
        """How late a tick ran (the scheduler's ``tick_lag`` hook); a tick run early counts as 0."""
        if seconds < 0.0:
            seconds = 0.0
        # bisect_left: the first bound >= seconds, i.e. the bucket "le" bound.
        self._lag_counts[_bisect(_bounds, seconds)] += 1
        self._lag_sum += seconds

    def match_ready(self, record) -> None:
        """A match launch succeeded: its child reported its port (:class:`~rpsa.matches.launcher.MatchObserver`)."""
        self._launched += 1

    def launch_failed(self, reason: str) -> None:
        """A match launch failed with the error code ``reason`` (:class:`~rpsa.matches.api.MatchHooks`)."""
        counts = self._launch_failures
        if reason not in counts and len(counts) >= MAX_FAILURE_REASONS:
            reason = OTHER
        counts[reason] = counts.get(reason, 0) + 1

    def http_request(self, request) -> None:
        """Count a finished HTTP request by route template and status (call it from ``Site.log``)."""
        key = (self._routes.label(getattr(request, "path", None) or b""), str(getattr(request, "code", 0)))
        counts = self._http
        counts[key] = counts.get(key, 0) + 1



class Metrics:
    """The registry Prometheus scrapes: the counters, and gauges counted from the lobby and launcher.

    ``counters``: the :class:`Counters`; ``lobby``: the lobby whose games are
    counted at each scrape; ``launcher``: the match launcher whose matches and
    limit are counted at each scrape; ``warm_pool``: the
    :class:`~rpsa.matches.warmpool.WarmPool` whose size and ready children are
    counted (any may be None); ``sources``: more objects whose
    ``metric_families()`` are added to every scrape (the Redis connection's).
    """

    def __init__(self, counters: Counters, lobby=None, launcher=None, warm_pool=None, sources=()) -> None:
        self._counters = counters
        self._sources = list(sources)
        self._lobby = lobby
        self._launcher = launcher
        self._warm_pool = warm_pool
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def render(self) -> bytes:
        """All metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The metric families, computed now (the collector's ``collect``)."""
        counters = self._counters
        games = GaugeMetricFamily("rpsa_games", "Games in the lobby, by state.", labels=["state"])
        game_counts = dict.fromkeys(GAME_STATES, 0)
        if self._lobby is not None:
            for session in self._lobby.games.values():
                state = session.state
                if state in game_counts:
                    game_counts[state] += 1
        for state, count in game_counts.items():
            games.add_metric([state], count)
        yield games

        connections = GaugeMetricFamily("rpsa_connections", "Open WebSocket connections, by role.", labels=["role"])
        for role, count in counters._connections.items():
            connections.add_metric([str(role)], count)
        yield connections

        matches = GaugeMetricFamily("rpsa_matches", "Live match children, by state.", labels=["state"])
        match_counts = dict.fromkeys(LIVE_STATES, 0)
        if self._launcher is not None:
            for record in self._launcher.list():
                if record.state in match_counts:
                    match_counts[record.state] += 1
        for state, count in match_counts.items():
            matches.add_metric([state], count)
        yield matches

        limits = GaugeMetricFamily("rpsa_limit", "Configured limits (--max-games, --max-matches, --warm-matches).",
                                   labels=["limit"])
        if self._lobby is not None:
            limits.add_metric(["max_games"], self._lobby.max_games)
        if self._launcher is not None:
            limits.add_metric(["max_matches"], self._launcher.max_matches)
        if self._warm_pool is not None:
            limits.add_metric(["warm_matches"], self._warm_pool.warm)
        yield limits

        if self._warm_pool is not None:
            yield GaugeMetricFamily("rpsa_warm_matches_ready", "Warm match children holding a port, waiting for a match.",
                                    value=self._warm_pool.warm_ready)

        yield CounterMetricFamily("rpsa_matches_launched_total", "Match children launched.", value=counters._launched)

        failures = CounterMetricFamily(
            "rpsa_launch_failures_total", "Match launches that failed, by error code.", labels=["reason"]
        )
        for reason, count in sorted(counters._launch_failures.items()):
            failures.add_metric([reason], count)
        yield failures

        yield CounterMetricFamily(
            "rpsa_messages_received_total", "WebSocket messages handed to a game.", value=counters._received
        )

        rejected = CounterMetricFamily(
            "rpsa_messages_rejected_total", "WebSocket messages rejected, by reason.", labels=["reason"]
        )
        for reason, count in counters._rejected.items():
            rejected.add_metric([reason], count)
        yield rejected

        cumulative, buckets = 0, []
        for bound, count in zip((*TICK_LAG_BUCKETS, float("inf")), counters._lag_counts):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(
            "rpsa_tick_lag_seconds", "How late game ticks ran, in seconds.", buckets=buckets, sum_value=counters._lag_sum
        )

        http = CounterMetricFamily(
            "rpsa_http_requests_total", "HTTP requests answered, by route and status.", labels=["route", "status"]
        )
        for (route, status), count in sorted(counters._http.items()):
            http.add_metric([route, status], count)
        yield http

        yield CounterMetricFamily(
            "rpsa_games_completed_total", "Lobby games played to the end.", value=counters._games_completed
        )
        for source in self._sources:
            yield from source.metric_families()


class _Collector:
    """Adapts :meth:`Metrics.collect` (of ``metrics``) to the registry's collector interface."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.collect()


def exposition(request, metrics: Metrics) -> bytes:
    """The metrics in the Prometheus text format, as the answer to ``request``."""
    request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
    return metrics.render()


class MetricsResource(Resource):
    """``GET``: the metrics in the Prometheus text format (a leaf: every path below answers the same).

    ``metrics``: the :class:`Metrics` to render.
    """

    isLeaf = True

    def __init__(self, metrics: Metrics):
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request) -> bytes:
        request.setHeader(b"Cache-Control", b"no-store")
        return exposition(request, self._metrics)


class _QuietSite(Site):
    """A Site that writes no access log and no start/stop lines (scrapes come every few seconds)."""

    noisy = False

    def log(self, request) -> None:
        pass


def metrics_site(metrics: Metrics, reactor=None) -> Site:
    """A Site answering the metrics at every path, for a listener of its own (e.g. ``tcp:9100:interface=127.0.0.1``)."""
    return _QuietSite(MetricsResource(metrics), reactor=reactor)
