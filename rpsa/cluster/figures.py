"""The cluster's figures for ``/metrics``: nodes seen, games per node, forwarded requests and their latency, relays.

Counted on the reactor thread as plain ``int`` additions (like :mod:`rpsa.redis.figures`,
which has the Redis round-trip time and errors), turned into metric families on scrape.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Dict, Iterator, Tuple

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from rpsa.cluster.bus import BusObserver
from rpsa.cluster.relay import RelayObserver
from rpsa.redis.figures import histogram_family

# A forwarded request: a Redis round trip each way plus the owner's work; 0.5 ms to 10 s (the timeout).
FORWARD_BUCKETS: Tuple[float, ...] = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                                      5.0, 10.0)


class ClusterFigures(BusObserver, RelayObserver):
    """What this node forwarded and relayed."""

    def __init__(self):
        self.forwarded_total: Counter = Counter()  # (op, outcome) -> count
        self._latency = [0] * (len(FORWARD_BUCKETS) + 1)
        self._latency_sum = 0.0
        self.relays: Counter = Counter()  # "opened" / "failed" -> count

    def forwarded(self, op: str, owner: str, outcome: str, seconds: float) -> None:
        self.forwarded_total[(op, outcome)] += 1
        self._latency[bisect_left(FORWARD_BUCKETS, max(seconds, 0.0))] += 1
        self._latency_sum += seconds

    def relay_opened(self, owner: str) -> None:
        self.relays["opened"] += 1

    def relay_failed(self, owner: str) -> None:
        self.relays["failed"] += 1

    def metric_families(self, view: Dict[str, object]) -> Iterator[Metric]:
        """The figures, with the live nodes of ``view`` (a name -> :class:`~rpsa.cluster.nodes.NodeInfo` map)."""
        yield GaugeMetricFamily("rpsa_cluster_nodes", "Live nodes of the cluster, as of the last heartbeat.",
                                value=len(view))
        games = GaugeMetricFamily("rpsa_cluster_node_games", "Games each live node holds, as of its last heartbeat.",
                                  labels=["node"])
        matches = GaugeMetricFamily("rpsa_cluster_node_matches", "Match children each live node runs.",
                                    labels=["node"])
        for name, info in sorted(view.items()):
            games.add_metric([name], info.games)
            matches.add_metric([name], info.matches)
        yield games
        yield matches
        forwarded = CounterMetricFamily("rpsa_cluster_forwarded_requests",
                                        "Requests this node forwarded to the owner of a game or match, by operation "
                                        "and outcome (ok, an error code, owner_unreachable).",
                                        labels=["op", "outcome"])
        for (op, outcome), count in sorted(self.forwarded_total.items()):
            forwarded.add_metric([op, outcome], count)
        yield forwarded
        yield histogram_family("rpsa_cluster_forward_seconds",
                               "Time from forwarding a request to the owner's reply, in seconds.",
                               FORWARD_BUCKETS, self._latency, self._latency_sum)
        relays = CounterMetricFamily("rpsa_cluster_relays", "WebSockets of the original protocol relayed to their "
                                                            "game's node, by outcome (opened, failed).",
                                     labels=["outcome"])
        for outcome in ("opened", "failed"):
            relays.add_metric([outcome], self.relays[outcome])
        yield relays
