"""The cluster's /metrics figures."""

from prometheus_client import CollectorRegistry, generate_latest
from twisted.trial.unittest import TestCase

from rpsa.cluster.figures import ClusterFigures
from rpsa.cluster.nodes import NodeInfo


class _Collector:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


class FiguresTests(TestCase):
    def test_nodes_games_forwarded_requests_and_relays(self):
        figures = ClusterFigures()
        figures.forwarded("join", "b", "ok", 0.003)
        figures.forwarded("join", "b", "owner_unreachable", 5.0)
        figures.relay_opened("b")
        view = {"a": NodeInfo("a", "i", "u", games=3), "b": NodeInfo("b", "i", "u", games=1, matches=2)}
        registry = CollectorRegistry()
        registry.register(_Collector(list(figures.metric_families(view))))
        text = generate_latest(registry).decode()
        for line in ("rpsa_cluster_nodes 2.0", 'rpsa_cluster_node_games{node="a"} 3.0',
                     'rpsa_cluster_node_matches{node="b"} 2.0',
                     'rpsa_cluster_forwarded_requests_total{op="join",outcome="ok"} 1.0',
                     'rpsa_cluster_forwarded_requests_total{op="join",outcome="owner_unreachable"} 1.0',
                     'rpsa_cluster_forward_seconds_bucket{le="0.005"} 1.0',
                     "rpsa_cluster_forward_seconds_count 2.0",
                     'rpsa_cluster_relays_total{outcome="opened"} 1.0',
                     'rpsa_cluster_relays_total{outcome="failed"} 0.0'):
            self.assertIn(line, text)
