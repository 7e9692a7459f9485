"""The process's one connection to Redis: a Service that connects, reconnects, and counts.

:class:`RedisConnection` connects when it starts and never makes the daemon wait for it: a
Redis that is down at start is logged once ("running degraded") and retried in the
background with capped, jittered exponential backoff, as is a connection lost later.  While
it is down, :meth:`RedisConnection.execute` fails at once with :class:`RedisUnavailable`
(nothing is queued here: a caller that must not lose what it sends, such as
:class:`~rpsa.redis.stream.StreamWriter`, keeps its own bounded queue and waits with
:meth:`RedisConnection.when_connected`).  ``state`` feeds ``/healthz`` (anything but
``connected`` is degraded) and :meth:`RedisConnection.metric_families` feeds ``/metrics``.

Commands are pipelined: each is written as soon as it is issued, and replies come back in
order.  A command unanswered within ``command_timeout`` means the connection can no longer
be trusted: it is aborted (every pending command fails with :class:`RedisUnavailable`) and
re-established.

The wire protocol is txredisapi's (``RedisProtocol``, RESP2); its own connection handling
(which uses the global reactor) is not used: this module connects through a Twisted
endpoint built by :meth:`~rpsa.redis.url.RedisURL.endpoint` on the injected reactor, and
authenticates (``AUTH``), selects the database (``SELECT``) and checks the link (``PING``)
itself before it counts as connected.  txredisapi is imported lazily, because importing it
imports the global reactor.

A later user of the connection (the cluster's pub/sub) opens its own link through the same
endpoint and backoff; this class is where that belongs.
"""

from __future__ import annotations

import random as _random
from collections import deque
from typing import Callable, Deque, Iterator, List, Optional

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from prometheus_client.metrics_core import Metric

from rpsa.redis.figures import ConnectionFigures
from rpsa.redis.url import RedisURL

log = Logger()

STOPPED, CONNECTING, CONNECTED, DISCONNECTED = "stopped", "connecting", "connected", "disconnected"

STOP_TIMEOUT = 5.0


class RedisUnavailable(Exception):
    """Not connected to Redis, or the connection was lost before the reply (the command may have run)."""


class RedisReplyError(Exception):
    """Redis answered the command with an error (``WRONGTYPE ...``, ``NOSCRIPT ...``, ``OOM ...``)."""


def _protocol_class():
    """txredisapi's protocol, told when its connection ends (imported here: it imports the global reactor)."""
    import txredisapi

    class _Protocol(txredisapi.RedisProtocol):
        """txredisapi's protocol on the injected ``reactor``; ``on_lost(protocol)`` hears it close."""

        lost_reason: Optional[Failure] = None

        def __init__(self, reactor, on_lost):
            super().__init__(charset="utf-8", errors="strict", convertNumbers=False)
            # txredisapi's parser schedules on ``callLater``, by default the global reactor's.
            self.callLater = reactor.callLater
            self._on_lost = on_lost
            self.closed = defer.Deferred()

        def connectionLost(self, why):
            self.lost_reason = why
            try:
                super().connectionLost(why)
            finally:
                self._on_lost(self, why)
                self.closed.callback(None)

    return _Protocol, txredisapi.ConnectionError, txredisapi.ResponseError


class _Factory(protocol.Factory):
    """Builds the connection's protocols on ``reactor``; each tells ``on_lost`` when it closes."""

    noisy = False  # each reconnection would log "Starting factory"

    def __init__(self, reactor, on_lost):
        self._reactor = reactor
        self._on_lost = on_lost
        self._protocol, _, _ = _protocol_class()

    def buildProtocol(self, addr):
        proto = self._protocol(self._reactor, self._on_lost)
        proto.factory = self
        return proto


def _reason(failure: Failure) -> str:
    value = failure.value
    text = str(value) or type(value).__name__
    return text.splitlines()[0][:300]


class RedisConnection(service.MultiService):
    """The one connection to Redis at ``url``.

    Services that use the connection (a :class:`~rpsa.redis.stream.StreamWriter`) are its
    children: they start once it has started connecting, and they stop (flushing what they
    hold) before it closes.

    :param reactor: the reactor (connects, times out and schedules retries on it).
    :param url: a :class:`~rpsa.redis.url.RedisURL` (its password is never logged).
    :param connect_timeout: seconds one attempt may take, connect, TLS, ``AUTH``, ``SELECT``
        and ``PING`` together.
    :param command_timeout: seconds a command may wait for its reply before the connection is
        aborted and re-established (``0``: wait forever).
    :param initial_delay: seconds before the first retry after a failure or a loss.
    :param max_delay: the cap of the doubling delay between retries.
    :param random: a callable returning a float in [0, 1): the jitter (each delay is scaled by
        0.5 + 0.5 × it), injected for tests.
    :param client_name: sent as ``CLIENT SETNAME`` so that ``CLIENT LIST`` shows who is
        connected (``None``: not sent).
    :param endpoint: the client endpoint to connect through (default: ``url``'s, see
        :meth:`~rpsa.redis.url.RedisURL.endpoint`; tests pass their own).
    """

    def __init__(self, reactor, url: RedisURL, connect_timeout: float = 5.0, command_timeout: float = 5.0,
                 initial_delay: float = 0.5, max_delay: float = 10.0,
                 random: Callable[[], float] = _random.random, client_name: Optional[str] = "rpsa",
                 endpoint=None):
        super().__init__()
        self._reactor = reactor
        self.url = url
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._random = random
        self._client_name = client_name
        self._endpoint = endpoint if endpoint is not None else url.endpoint(reactor, connect_timeout)
        self._factory = _Factory(reactor, self._lost)
        _, self._connection_error, self._response_error = _protocol_class()

        self.state = STOPPED
        self._protocol = None
        self._connecting: Optional[defer.Deferred] = None
        self._retry = None
        self._failures = 0  # attempts failed since the last connection
        self._down_since: Optional[float] = None  # None: up, or never connected yet
        self._ever_connected = False
        self._outage_logged = False
        self._pending: Deque[float] = deque()  # send times of the commands awaiting their reply
        self._watchdog = None
        self._waiting_up: List[defer.Deferred] = []
        self._waiting_down: List[defer.Deferred] = []

        self.figures = ConnectionFigures()

    # -- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED

    def when_connected(self) -> defer.Deferred:
        """A Deferred firing with this connection once it is connected (at once if it is).

        It fails with :class:`RedisUnavailable` if the service stops first; cancelling it is fine.
        """
        if self.state == CONNECTED:
            return defer.succeed(self)
        return self._waiter(self._waiting_up)

    def when_disconnected(self) -> defer.Deferred:
        """A Deferred firing (with ``None``) the next time an established connection is lost."""
        return self._waiter(self._waiting_down)

    def _waiter(self, waiting: List[defer.Deferred]) -> defer.Deferred:
        def cancel(d):
            if d in waiting:
                waiting.remove(d)

        d = defer.Deferred(cancel)
        waiting.append(d)
        return d

    @staticmethod
    def _fire(waiting: List[defer.Deferred], result) -> None:
        pending, waiting[:] = list(waiting), []
        for d in pending:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    # -- the service ---------------------------------------------------------------------

    def startService(self):
        log.info("Redis: connecting to {url}", url=self.url.redacted())
        self.running = 1  # _attempt's callbacks check it
        self._attempt()
        super().startService()

    def stopService(self):
        children = super().stopService()  # each child bounds its own stop
        children.addErrback(lambda f: log.failure("Redis: stopping a user of the connection failed", f))
        children.addCallback(lambda _: self._close())
        return children

    def _close(self) -> defer.Deferred:
        self.state = STOPPED
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._connecting is not None:
            self._connecting.cancel()
        self._fire(self._waiting_up, Failure(RedisUnavailable("the Redis connection was stopped")))
        proto, self._protocol = self._protocol, None
        if proto is None:
            return defer.succeed(None)
        proto.transport.loseConnection()
        closed = proto.closed
        closed.addTimeout(STOP_TIMEOUT, self._reactor, onTimeoutCancel=lambda *_: proto.transport.abortConnection())
        closed.addErrback(lambda f: log.failure("Redis: closing the connection failed", f))
        return closed

    # -- connecting ----------------------------------------------------------------------

    def _attempt(self) -> None:
        self._retry = None
        self.state = CONNECTING
        holder = {}

        def connected(proto):
            holder["proto"] = proto
            return self._prepare(proto)

        d = self._endpoint.connect(self._factory)
        d.addCallback(connected)
        d.addTimeout(self._connect_timeout, self._reactor)
        self._connecting = d
        d.addCallbacks(self._up, lambda f: self._attempt_failed(f, holder.get("proto")))

    @defer.inlineCallbacks
    def _prepare(self, proto):
        try:
            if self.url.password is not None:
                credentials = [self.url.username] if self.url.username else []
                yield proto.execute_command("AUTH", *credentials, self.url.password)
            if self.url.db:
                yield proto.execute_command("SELECT", str(self.url.db))
            yield proto.execute_command("PING")
            if self._client_name:
                try:
                    yield proto.execute_command("CLIENT", "SETNAME", self._client_name)
                except self._response_error:
                    pass  # an ACL may forbid it; it only names us in CLIENT LIST
        except BaseException:
            proto.transport.abortConnection()
            raise
        return proto

    def _up(self, proto) -> None:
        self._connecting = None
        if not self.running or proto.lost_reason is not None:
            if proto.lost_reason is None:
                proto.transport.loseConnection()
            else:
                self._attempt_failed(proto.lost_reason, proto)
            return
        self._protocol = proto
        self.state = CONNECTED
        down = self._reactor.seconds() - self._down_since if self._down_since is not None else 0.0
        if not self._ever_connected:
            self._ever_connected = True
            if self._failures:
                log.info("Redis: connected to {url} after {seconds:.1f}s ({attempts} attempts)",
                         url=self.url.redacted(), seconds=down, attempts=self._failures + 1)
            else:
                log.info("Redis: connected to {url}", url=self.url.redacted())
        else:
            self.figures.reconnects += 1
            log.info("Redis: connected to {url} again after {seconds:.1f}s ({attempts} attempt(s))",
                     url=self.url.redacted(), seconds=down, attempts=self._failures + 1)
        self._failures = 0
        self._down_since = None
        self._outage_logged = False
        self._fire(self._waiting_up, self)

    def _attempt_failed(self, failure: Failure, proto) -> None:
        self._connecting = None
        if not self.running:
            return
        if proto is not None and proto.lost_reason is not None and failure.check(
                self._connection_error, defer.CancelledError, defer.TimeoutError):
            failure = proto.lost_reason  # e.g. the TLS verification error behind "Lost connection"
        if failure.check(defer.CancelledError, defer.TimeoutError):
            reason = f"no answer within {self._connect_timeout}s"
        else:
            reason = _reason(failure)
        self._failures += 1
        if self._down_since is None:
            self._down_since = self._reactor.seconds()
        self.state = DISCONNECTED
        if not self._outage_logged:
            self._outage_logged = True
            if self._ever_connected:
                log.warn("Redis: cannot reconnect to {url} ({reason}); still degraded, retrying",
                         url=self.url.redacted(), reason=reason)
            else:
                log.warn("Redis: {url} is unreachable ({reason}); running degraded (everything that does not "
                         "need Redis works), retrying with backoff up to every {max_delay}s",
                         url=self.url.redacted(), reason=reason, max_delay=self._max_delay)
        else:
            log.debug("Redis: attempt {n} to reach {url} failed ({reason})", n=self._failures,
                      url=self.url.redacted(), reason=reason)
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        exponent = min(max(self._failures - 1, 0), 30)
        delay = min(self._max_delay, self._initial_delay * 2 ** exponent) * (0.5 + 0.5 * self._random())
        self._retry = self._reactor.callLater(delay, self._attempt)

    def _lost(self, proto, why: Failure) -> None:
        if proto is not self._protocol:
            return  # an attempt that failed during its preparation, or a connection we closed
        self._protocol = None
        if self.state != STOPPED:
            self.state = DISCONNECTED
        if not self.running:
            return
        self._down_since = self._reactor.seconds()
        self._outage_logged = True
        log.warn("Redis: lost the connection to {url} ({reason}); running degraded, reconnecting",
                 url=self.url.redacted(), reason=_reason(why))
        self._fire(self._waiting_down, None)
        self._schedule_retry()

    # -- commands ------------------------------------------------------------------------

    def execute(self, *args) -> defer.Deferred:
        """Send one command; a Deferred with its reply (``str``, ``int``, ``list``, ``None``).

        Fails with :class:`RedisUnavailable` (not connected, or the connection was lost before
        the reply) or :class:`RedisReplyError` (Redis answered with an error).
        """
        proto = self._protocol
        if proto is None:
            return defer.fail(RedisUnavailable(f"Redis is not connected ({self.state})"))
        self.figures.commands += 1
        try:
            d = proto.execute_command(*args)
        except Exception as e:  # not connected any more, or an argument that cannot be encoded
            self.figures.errors += 1
            if isinstance(e, self._connection_error):
                return defer.fail(RedisUnavailable(str(e)))
            return defer.fail(e)
        started = self._reactor.seconds()
        # Replies come in order: the oldest unanswered command is the first of the deque, and
        # one watchdog timer (not one per command, which costs more than the command) checks it.
        pending = self._pending
        pending.append(started)
        if self._watchdog is None and self._command_timeout:
            self._watchdog = self._reactor.callLater(self._command_timeout, self._check_replies)
        return d.addBoth(self._answered, started)

    def _answered(self, result, started: float):
        pending = self._pending
        if pending:
            pending.popleft()
        if isinstance(result, Failure):
            self.figures.errors += 1
            if result.check(self._response_error):
                self.figures.round_trip(self._reactor.seconds() - started)  # it was answered
                return Failure(RedisReplyError(str(result.value)))
            if result.check(self._connection_error):
                return Failure(RedisUnavailable(str(result.value) or "lost the connection to Redis"))
            return result
        self.figures.round_trip(self._reactor.seconds() - started)
        return result

    def _check_replies(self) -> None:
        self._watchdog = None
        proto = self._protocol
        if proto is None or not self._pending:
            return
        waited = self._reactor.seconds() - self._pending[0]
        if waited < self._command_timeout:
            self._watchdog = self._reactor.callLater(self._command_timeout - waited, self._check_replies)
            return
        log.warn("Redis: a command had no reply within {timeout}s; reconnecting", timeout=self._command_timeout)
        proto.transport.abortConnection()

    def metric_families(self) -> Iterator[Metric]:
        """The connection's figures for ``/metrics``."""
        return self.figures.metric_families(self.connected)
