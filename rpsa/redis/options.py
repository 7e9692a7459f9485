"""The ``--redis`` family of ``twistd rpsa`` options, and the Redis part of the service tree.

:data:`OPTIONS` are the option definitions (``optParameters`` rows) that
:mod:`rpsa.daemon.tap` includes; :func:`check_options` validates them together (called
from ``postOptions``); :func:`build` turns them into a :class:`Redis`: the connection
service (to add to the service tree) with its stream writer as a child, and the
:class:`~rpsa.redis.varcade.GameEvents` the games report to.  Without ``--redis``,
:func:`build` returns ``None`` and nothing about Redis exists in the process.
"""

from __future__ import annotations

from typing import Iterator, Optional

from twisted.python import usage

from rpsa.redis.connection import RedisConnection
from rpsa.redis.schema import DEFAULT_PREFIX, Keys
from rpsa.redis.stream import StreamWriter
from rpsa.redis.url import parse_redis_url
from rpsa.redis.varcade import GameEvents, VarcadeEvents

DEFAULT_MAXLEN = 100_000
DEFAULT_MAX_QUEUED = 10_000


def _url(text):
    try:
        return parse_redis_url(text)
    except ValueError as e:
        raise usage.UsageError(f"--redis: {e}") from None


def _count(name, minimum):
    def parse(text):
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise usage.UsageError(f"--{name}: {text!r} is not an integer") from None
        if value < minimum:
            raise usage.UsageError(f"--{name}: must be at least {minimum}, got {value}")
        return value

    return parse


OPTIONS = [
    ["redis", None, None, "Redis to use, as redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS, the "
                          "certificate verified; ?ssl_ca_certs=FILE for a private CA) or unix:///PATH[?db=DB]. "
                          "The password is never logged. Without it rpsa needs no Redis.", _url],
    ["redis-key-prefix", None, DEFAULT_PREFIX, "Prefix of every Redis key rpsa owns (not of --event-stream)."],
    ["event-stream", None, None, "Redis stream receiving one entry per game lifecycle event in the original "
                                 "Varcade server's format (its name there: game_event_stream); needs --redis "
                                 "and --product-id."],
    ["product-id", None, None, "The portal's id for this game in --event-stream entries (exrps in the Varcade "
                               "portal)."],
    ["event-stream-maxlen", None, DEFAULT_MAXLEN, "Trim --event-stream to about this many entries "
                                                  "(XADD MAXLEN ~; 0: never trim).", _count("event-stream-maxlen", 0)],
    ["event-queue", None, DEFAULT_MAX_QUEUED, "Most --event-stream entries kept in memory while Redis is "
                                              "unreachable; past it the oldest are dropped (and counted).",
     _count("event-queue", 1)],
]


def check_options(options) -> None:
    """UsageError for options that do not go together (call from ``postOptions``)."""
    for name in ("event-stream-maxlen", "event-queue"):  # defaults are not passed through the coercer
        if isinstance(options[name], str):
            options[name] = _count(name, 0 if name == "event-stream-maxlen" else 1)(options[name])
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
    :param events: the :class:`~rpsa.redis.varcade.GameEvents` games report to (a no-op one
        without ``--event-stream``).
    """

    def __init__(self, connection: RedisConnection, writer: Optional[StreamWriter], events: GameEvents):
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
    if isinstance(url, str):
        url = _url(url)
    connection = RedisConnection(reactor, url)
    writer = None
    events = GameEvents()
    if options["event-stream"]:
        writer = StreamWriter(reactor, connection, options["event-stream"], Keys(options["redis-key-prefix"] or ""),
                              maxlen=options["event-stream-maxlen"], max_queued=options["event-queue"])
        writer.setServiceParent(connection)
        events = VarcadeEvents(writer, options["product-id"])
    return Redis(connection, writer, events)
