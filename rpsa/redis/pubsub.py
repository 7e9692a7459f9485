"""Pub/sub: the second link to Redis, in subscribe mode, for the cluster's bus.

A connection that has sent ``SUBSCRIBE`` may only (un)subscribe and ``PING`` (RESP2), so
the messages a process hears come in on a link of their own: :class:`Subscriber` is a
:class:`~rpsa.redis.connection.RedisConnection` (same URL, endpoint, backoff, state and
figures) whose protocol hands every published message to ``on_message``, and which
subscribes to its channels again each time it (re)connects.  Publishing is an ordinary
command (``PUBLISH``) on the process's command connection.
"""

from __future__ import annotations

from typing import Callable, Sequence

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.redis.connection import RedisConnection, RedisUnavailable, _Factory, _protocol_class

log = Logger()

RETRY_DELAY = 5.0  # seconds before subscribing again after Redis refused it (an ACL, say)


class _SubscriberFactory(_Factory):
    """Builds a subscriber protocol on ``reactor`` that reports its loss to ``on_lost`` and each message to
    ``on_message(channel, message)``."""

    def __init__(self, reactor, on_lost, on_message):
        super().__init__(reactor, on_lost)
        import txredisapi  # imports the global reactor: only once a Subscriber is built

        base, _, _ = _protocol_class()

        class _Protocol(txredisapi.SubscriberProtocol, base):
            def messageReceived(self, pattern, channel, message):
                on_message(channel, message)

        self._protocol = _Protocol


class Subscriber(RedisConnection):
    """A link to Redis subscribed to ``channels``; each message goes to ``on_message(channel, text)``.

    Start it as any :class:`~rpsa.redis.connection.RedisConnection` (it connects, and
    reconnects with backoff, by itself); :attr:`subscribed` is true while the channels are
    subscribed on the current link.  Messages are decoded as UTF-8 text.

    :param reactor: the reactor.
    :param url: the :class:`~rpsa.redis.url.RedisURL` (the same as the command connection's).
    :param channels: the channel names to subscribe to.
    :param on_message: called with ``(channel, message)`` for every message, on the reactor
        thread; it must not raise (an exception is logged and the message dropped).
    :param kwargs: the other parameters of :class:`~rpsa.redis.connection.RedisConnection`
        (``client_name`` defaults to ``rpsa-subscriber``).
    """

    def __init__(self, reactor, url, channels: Sequence[str], on_message: Callable[[str, str], None], **kwargs):
        kwargs.setdefault("client_name", "rpsa-subscriber")
        super().__init__(reactor, url, **kwargs)
        self.channels = list(channels)
        self._on_message = on_message
        self._factory = _SubscriberFactory(reactor, self._lost, self._message)
        self.subscribed = False
        self._loop = None

    def _message(self, channel, message) -> None:
        try:
            self._on_message(channel, message)
        except Exception:
            log.failure("Redis: handling a message on {channel} failed", channel=channel)

    def startService(self):
        super().startService()
        self._subscribe()

    def stopService(self):
        self.subscribed = False
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if not hasattr(loop, "active") or loop.active():
                loop.cancel()
        return super().stopService()

    def _subscribe(self) -> None:
        """Subscribe once connected; again after each loss of the link."""
        d = self.when_connected()
        self._loop = d
        d.addCallback(lambda _: self.execute("SUBSCRIBE", *self.channels))
        d.addCallback(self._subscribed)
        d.addErrback(self._not_subscribed)

    def _subscribed(self, _reply) -> None:
        self.subscribed = True
        lost = self.when_disconnected()
        self._loop = lost
        lost.addCallback(self._lost_subscription)
        lost.addErrback(lambda f: f.trap(defer.CancelledError))

    def _lost_subscription(self, _) -> None:
        self.subscribed = False
        if self.running:
            self._subscribe()

    def _not_subscribed(self, failure) -> None:
        self.subscribed = False
        if failure.check(defer.CancelledError) or not self.running:
            return
        if failure.check(RedisUnavailable):
            self._subscribe()  # waits for the next connection
            return
        log.failure("Redis: subscribing to {channels} failed; retrying in {delay}s", failure,
                    channels=" ".join(self.channels), delay=RETRY_DELAY)
        self._loop = self._reactor.callLater(RETRY_DELAY, self._subscribe)
