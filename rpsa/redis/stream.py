"""Appending entries to one Redis stream, in order, never twice, without anyone waiting.

:meth:`StreamWriter.append` only puts the entry in an in-memory queue (O(1), on the
reactor thread, for the game code that calls it); the writer sends what is queued at the
next turn of the reactor, in batches, one batch in flight at a time, so entries reach the
stream in the order they were appended.  Each batch goes through the idempotent append
script of :mod:`rpsa.redis.schema` (``EVALSHA``): a batch that failed because the
connection was lost is sent again once the connection is back, and the entries Redis had
already taken are skipped.

While Redis is unreachable the queue holds at most ``max_queued`` entries; past that the
oldest are dropped (counted in ``rpsa_redis_stream_dropped_total``; one warning per
outage).  An error reply (the key is not a stream, Redis is out of memory) keeps the
entries queued and retries with a doubling delay, with one warning per streak.  On stop,
the writer spends at most ``stop_timeout`` seconds writing what is queued, then says how
many entries it could not write.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from typing import Deque, Iterator, List, Optional, Sequence, Tuple

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from rpsa.redis.connection import RedisReplyError, RedisUnavailable
from rpsa.redis.schema import APPEND_SCRIPT, WRITER_KEY_TTL, Keys

log = Logger()

SCRIPT_SHA = hashlib.sha1(APPEND_SCRIPT.encode()).hexdigest()
MAX_RETRY_DELAY = 30.0


class StreamWriter(service.Service):
    """Appends field lists to the stream ``stream`` through ``connection``.

    Make it a child of the :class:`~rpsa.redis.connection.RedisConnection` service so that
    it starts after the connection and stops (flushing) before the connection closes.

    :param reactor: the reactor (the writer schedules its sends and retries on it).
    :param connection: the :class:`~rpsa.redis.connection.RedisConnection`.
    :param stream: the stream's key, used verbatim.
    :param keys: the :class:`~rpsa.redis.schema.Keys` naming this writer's sequence key.
    :param maxlen: ``XADD MAXLEN ~`` bound of the stream (``0``: never trimmed).
    :param max_queued: most entries waiting while Redis is unreachable; past it the oldest
        are dropped.
    :param batch_size: most entries in one script call.
    :param retry_delay: first delay, in seconds, before retrying after an error reply
        (doubling, capped at 30 s).
    :param stop_timeout: seconds a stop waits for the queue to be written.
    :param writer_id: this writer's identity in its sequence key (default: random, so one
        per process start).
    """

    def __init__(self, reactor, connection, stream: str, keys: Keys, maxlen: int = 100_000,
                 max_queued: int = 10_000, batch_size: int = 100, retry_delay: float = 1.0,
                 stop_timeout: float = 2.0, writer_id: Optional[str] = None):
        if max_queued < 1 or batch_size < 1 or maxlen < 0:
            raise ValueError("max_queued and batch_size must be at least 1, maxlen at least 0")
        self._reactor = reactor
        self._connection = connection
        self.stream = stream
        self._sequence_key = keys.writer_sequence(writer_id or uuid.uuid4().hex)
        self._maxlen = str(maxlen)
        self._max_queued = max_queued
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self._stop_timeout = stop_timeout

        self._queue: Deque[Tuple[int, Sequence[str]]] = deque()
        self._next_seq = 1
        self._inflight: Optional[List[Tuple[int, Sequence[str]]]] = None
        self._scheduled = None  # the next send, at the next reactor turn
        self._retry = None  # the next send after an error reply
        self._waiting: Optional[defer.Deferred] = None  # for the connection to come back
        self._sending = False  # started, and not finally stopped
        self._send_script = False  # Redis said NOSCRIPT: send the script's text once
        self._failures = 0  # error replies in a row
        self._dropping_logged = False
        self._flush_waiters: List[defer.Deferred] = []

        self.written = 0
        self.dropped = 0

    @property
    def queued(self) -> int:
        """Entries appended and not yet written (in flight included)."""
        return len(self._queue) + (len(self._inflight) if self._inflight else 0)

    # -- the caller's side -------------------------------------------------------------

    def append(self, fields: Sequence[str]) -> None:
        """Queue one entry (field, value, field, value, ... all ``str``); returns at once."""
        self._queue.append((self._next_seq, fields))
        self._next_seq += 1
        self._bound()
        self._kick()

    def flushed(self) -> defer.Deferred:
        """A Deferred firing once every entry appended so far was written or dropped."""
        if not self.queued:
            return defer.succeed(None)
        d = defer.Deferred()
        self._flush_waiters.append(d)
        return d

    def _bound(self) -> None:
        while len(self._queue) > self._max_queued:
            self._queue.popleft()
            self.dropped += 1
            if not self._dropping_logged:
                self._dropping_logged = True
                log.warn("event stream {stream}: Redis is not taking entries and {max_queued} wait; dropping the "
                         "oldest until it does (counted in rpsa_redis_stream_dropped_total)",
                         stream=self.stream, max_queued=self._max_queued)

    # -- the service ---------------------------------------------------------------------

    def startService(self):
        super().startService()
        self._sending = True
        self._kick()

    def stopService(self):
        done = self.flushed()
        done.addTimeout(self._stop_timeout, self._reactor)
        done.addErrback(lambda f: None)  # timed out: reported below
        done.addCallback(lambda _: self._stopped())
        return done

    def _stopped(self) -> None:
        service.Service.stopService(self)
        self._sending = False
        for call in (self._scheduled, self._retry):
            if call is not None and call.active():
                call.cancel()
        self._scheduled = self._retry = None
        if self._waiting is not None:
            self._waiting.cancel()
        if self.queued:
            log.warn("event stream {stream}: stopping with {count} entries not written (Redis unreachable)",
                     stream=self.stream, count=self.queued)
        self._fire_flushed()

    def _fire_flushed(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        for d in waiters:
            if not d.called:  # a waiter that timed out was cancelled
                d.callback(None)

    # -- sending ---------------------------------------------------------------------------

    def _kick(self) -> None:
        if (not self._sending or not self._queue or self._inflight is not None or self._scheduled is not None
                or self._retry is not None or self._waiting is not None):
            return
        if not self._connection.connected:
            self._waiting = self._connection.when_connected()
            self._waiting.addCallbacks(self._connected, lambda f: None)
            return
        self._scheduled = self._reactor.callLater(0, self._send)

    def _connected(self, _) -> None:
        self._waiting = None
        self._kick()

    def _retry_now(self) -> None:
        self._retry = None
        self._kick()

    def _send(self) -> None:
        self._scheduled = None
        if not self._queue or self._inflight is not None:
            return
        batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
        self._inflight = batch
        args: List[str] = ["EVAL" if self._send_script else "EVALSHA",
                           APPEND_SCRIPT if self._send_script else SCRIPT_SHA,
                           "2", self.stream, self._sequence_key, self._maxlen, str(WRITER_KEY_TTL)]
        for seq, fields in batch:
            args.append(str(seq))
            args.append(str(len(fields)))
            args.extend(fields)
        d = self._connection.execute(*args)
        d.addCallbacks(self._sent, self._failed)

    def _sent(self, _added) -> None:
        batch, self._inflight = self._inflight, None
        self.written += len(batch)
        self._send_script = False
        if self._failures or self._dropping_logged:
            log.info("event stream {stream}: writing again ({dropped} entries dropped so far)",
                     stream=self.stream, dropped=self.dropped)
        self._failures = 0
        self._dropping_logged = False
        if self._queue:
            self._kick()
        else:
            self._fire_flushed()

    def _failed(self, failure) -> None:
        batch, self._inflight = self._inflight, None
        self._queue.extendleft(reversed(batch))
        self._bound()
        if failure.check(RedisReplyError) and str(failure.value).startswith("NOSCRIPT"):
            self._send_script = True  # Redis lost its script cache (a restart): send the text once
            self._kick()
            return
        if failure.check(RedisUnavailable) and not self._connection.connected:
            self._kick()  # waits for the connection, which logs the outage itself
            return
        self._failures += 1
        delay = min(MAX_RETRY_DELAY, self._retry_delay * 2 ** min(self._failures - 1, 10))
        if self._failures == 1:
            log.warn("event stream {stream}: appending failed ({reason}); {count} entries wait, retrying",
                     stream=self.stream, reason=str(failure.value)[:300] or failure.type.__name__, count=self.queued)
        if self._sending:
            self._retry = self._reactor.callLater(delay, self._retry_now)

    # -- figures -------------------------------------------------------------------------

    def metric_families(self) -> Iterator[Metric]:
        """This writer's figures for ``/metrics`` (labelled with the stream's name)."""
        written = CounterMetricFamily("rpsa_redis_stream_written_total", "Entries appended to a Redis stream.",
                                      labels=["stream"])
        written.add_metric([self.stream], self.written)
        yield written
        queued = GaugeMetricFamily("rpsa_redis_stream_queued", "Entries waiting to be appended to a Redis stream.",
                                   labels=["stream"])
        queued.add_metric([self.stream], self.queued)
        yield queued
        dropped = CounterMetricFamily(
            "rpsa_redis_stream_dropped_total",
            "Entries dropped, oldest first, because too many waited while Redis was unreachable.", labels=["stream"])
        dropped.add_metric([self.stream], self.dropped)
        yield dropped
