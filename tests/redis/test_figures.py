"""The connection's figures as Prometheus metric families."""

from twisted.trial.unittest import TestCase

from rpsa.redis.figures import ConnectionFigures
from tests.redis.test_connection import metrics_text


class _Source:
    def __init__(self, figures, connected):
        self.figures, self.connected = figures, connected

    def metric_families(self):
        return self.figures.metric_families(self.connected)


class FiguresTests(TestCase):
    def test_families(self):
        figures = ConnectionFigures()
        figures.commands, figures.errors, figures.reconnects = 5, 2, 1
        for seconds in (0.00005, 0.0003, 0.0003, 3.0, -0.1):  # a clock step back counts as 0
            figures.round_trip(seconds)
        text = metrics_text(_Source(figures, connected=False))
        self.assertIn("rpsa_redis_connected 0.0", text)
        self.assertIn("rpsa_redis_commands_total 5.0", text)
        self.assertIn("rpsa_redis_errors_total 2.0", text)
        self.assertIn("rpsa_redis_reconnects_total 1.0", text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="0.0001"} 2.0', text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="0.0005"} 4.0', text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="2.5"} 4.0', text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="+Inf"} 5.0', text)
