"""The Redis connection's figures for ``/metrics``: plain counters, turned into metric families on scrape.

Commands run on the reactor thread, thousands a second, so counting is an ``int`` addition
and a ``bisect`` (as in :mod:`rpsa.daemon.metrics`); nothing is locked.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterator, Tuple

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

# Round trips from 0.1 ms (same host) to 2.5 s (a struggling server).
RTT_BUCKETS: Tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5, 1.0, 2.5)


class ConnectionFigures:
    """Commands sent, failed, reconnections, and the round-trip times of the answered commands."""

    def __init__(self):
        self.commands = 0
        self.errors = 0
        self.reconnects = 0
        self._rtt_counts = [0] * (len(RTT_BUCKETS) + 1)
        self._rtt_sum = 0.0

    def round_trip(self, seconds: float, _bisect=bisect_left, _bounds=RTT_BUCKETS) -> None:
        """One command answered ``seconds`` after it was sent."""
        self._rtt_counts[_bisect(_bounds, max(seconds, 0.0))] += 1
        self._rtt_sum += seconds

    def metric_families(self, connected: bool) -> Iterator[Metric]:
        yield GaugeMetricFamily("rpsa_redis_connected", "1 while the Redis connection is up, else 0.",
                                value=1 if connected else 0)
        yield CounterMetricFamily("rpsa_redis_reconnects_total", "Times the Redis connection was re-established.",
                                  value=self.reconnects)
        yield CounterMetricFamily("rpsa_redis_commands_total", "Redis commands sent.", value=self.commands)
        yield CounterMetricFamily("rpsa_redis_errors_total",
                                  "Redis commands that failed (error reply, lost connection, timeout).",
                                  value=self.errors)
        yield histogram_family("rpsa_redis_round_trip_seconds",
                               "Time from sending a Redis command to its reply, in seconds.",
                               RTT_BUCKETS, self._rtt_counts, self._rtt_sum)


def histogram_family(name: str, documentation: str, bounds: Tuple[float, ...], counts, total: float) -> Metric:
    """A histogram family from per-bucket ``counts`` (one more than ``bounds``: the last is +Inf) and their ``total``."""
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts):
        cumulative += count
        buckets.append((floatToGoString(bound), cumulative))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=total)
