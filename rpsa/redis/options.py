"""The Redis part of the service tree, built from the ``--redis`` family of options.

The options themselves are defined with the others in :mod:`rpsa.daemon.tap`;
:func:`check_options` validates how they go together (called from ``postOptions``), and
:func:`build` turns them into a :class:`Redis`: the connection service (to add to the
service tree) with the event stream's writer as its child, and the
:class:`~rpsa.play.hooks.GameEvents` the games report to.  Without ``--redis``,
:func:`build` returns ``None`` and nothing about Redis exists in the process.
"""

from __future__ import annotations

from typing import Iterator, Optional

from twisted.python import usage

from rpsa.play.hooks import GameEvents
from rpsa.redis.connection import RedisConnection
from rpsa.redis.schema import Keys
from rpsa.redis.stream import StreamWriter
from rpsa.redis.varcade import VarcadeEvents


def check_options(options) -> None:
    """UsageError for ``--event-stream`` and ``--product-id`` without what they need."""
    if options["event-stream"] is not None:
        if options["redis"] is None:
            raise usage.UsageError("--event-stream needs --redis")
        if not options["product-id"]:
            raise usage.UsageError("--event-stream needs --product-id (exrps for the Varcade portal)")
    elif options["product-id"] is not None:
        raise usage.UsageError("--product-id means nothing without --event-stream")


class Redis:
    """The Redis side of one daemon.

    :param connection: the :class:`~rpsa.redis.connection.RedisConnection` service (add it to
        the service tree; its users are its children).
    :param writer: the event stream's :class:`~rpsa.redis.stream.StreamWriter`, or ``None``.
    :param events: the :class:`~rpsa.play.hooks.GameEvents` writing the event stream, or
        ``None`` without ``--event-stream``.
    """

    name = "redis"  # in /healthz's list of degraded dependencies

    def __init__(self, connection: RedisConnection, writer: Optional[StreamWriter], events: Optional[GameEvents]):
        self.connection = connection
        self.writer = writer
        self.events = events

    @property
    def healthy(self) -> bool:
        """False while the connection is down (``/healthz`` says ``degraded``)."""
        return self.connection.connected

    def metric_families(self) -> Iterator:
        """The connection's and the writer's figures for ``/metrics``."""
        yield from self.connection.metric_families()
        if self.writer is not None:
            yield from self.writer.metric_families()


def build(options, reactor) -> Optional[Redis]:
    """The :class:`Redis` these options describe, or ``None`` without ``--redis``."""
    url = options["redis"]
    if url is None:
        return None
    connection = RedisConnection(reactor, url)
    writer = events = None
    if options["event-stream"]:
        writer = StreamWriter(reactor, connection, options["event-stream"], Keys(options["redis-key-prefix"]),
                              maxlen=options["event-stream-maxlen"], max_queued=options["event-queue"])
        writer.setServiceParent(connection)
        events = VarcadeEvents(writer, options["product-id"])
    return Redis(connection, writer, events)
