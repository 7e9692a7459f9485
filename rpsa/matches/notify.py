"""Match notifications: POST events as JSON to a URL, retrying with exponential backoff.

:class:`MatchNotifications` is the launcher's observer that logs each match's
end and posts it as a ``match_ended`` event.

A :class:`Notifier` never raises to its caller: :meth:`Notifier.post`
returns a Deferred that fires with ``True`` once the event was delivered (a
2xx answer) and ``False`` once it gave up (``attempts`` failures, each logged)
or was stopped or cancelled.  The events are built by the caller, e.g.
``{"event": "match_ready", "match_id", "port", "spectate_url"}`` or
``{"event": "match_ended", "match_id", "result" or "reason"}``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import urlsplit, urlunsplit

import treq
from twisted.application import service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, TimeoutError, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger

from rpsa.matches.launcher import MatchObserver, MatchRecord

log = Logger()


class NotifyError(Exception):
    """The notification URL answered with a status outside 2xx."""


def _discard(data: bytes) -> None:
    pass


class _Delivery:
    """One event on its way; cancelling it cancels whatever it is waiting for."""

    def __init__(self):
        self.cancelled = False
        self._waiting: Optional[Deferred] = None

    async def wait(self, d: Deferred) -> Any:
        """Await ``d``, which :meth:`cancel` cancels meanwhile."""
        self._waiting = d
        try:
            return await d
        finally:
            self._waiting = None

    def cancel(self) -> None:
        """Abandon the delivery."""
        self.cancelled = True
        if self._waiting is not None:
            self._waiting.cancel()


class Notifier(service.Service):
    """POSTs events to ``url`` with ``treq_client``, a treq ``HTTPClient`` (default: the ``treq`` module).

    ``reactor`` times the attempts.  Attempt ``n`` that fails (a connection
    error, a non-2xx status, or no complete answer within ``timeout`` seconds)
    is followed by attempt ``n + 1`` after ``backoff * 2 ** (n - 1)`` seconds,
    up to ``attempts`` attempts in all.  After :meth:`stopService` it sends
    nothing more.
    """

    def __init__(
        self,
        url: str,
        reactor,
        treq_client=None,
        attempts: int = 5,
        backoff: float = 1.0,
        timeout: float = 10.0,
    ):
        self._url = url
        self._log_url = _redacted(url)
        self._reactor = reactor
        self._client = treq if treq_client is None else treq_client
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._timeout = timeout
        self._pending: Dict[_Delivery, Deferred] = {}  # unfinished deliveries, and when they finish
        self._stopped = False

    def post(self, event: Dict[str, Any]) -> Deferred:
        """Deliver ``event``; fire with ``True`` (delivered) or ``False`` (gave up, stopped or cancelled).

        Cancelling the returned Deferred abandons the event (it fires with ``False``).
        """
        if self._stopped:
            log.info("notifier stopped: not sending {what}", what=_describe(event))
            return succeed(False)
        delivery = _Delivery()
        done = Deferred.fromCoroutine(self._deliver(event, delivery))
        done.addErrback(self._bug, event)
        result = Deferred(lambda _: delivery.cancel())
        done.addCallback(self._finished, delivery, result)
        if not done.called:
            self._pending[delivery] = done
        return result

    def stopService(self) -> Deferred:
        """Cancel pending requests and retries; fire with ``None`` once every post has finished."""
        super().stopService()
        self._stopped = True
        pending = list(self._pending.items())
        for delivery, _ in pending:
            delivery.cancel()
        return DeferredList([done for _, done in pending]).addCallback(lambda _: None)

    async def _deliver(self, event: Dict[str, Any], delivery: _Delivery) -> bool:
        what = _describe(event)
        for attempt in range(1, self._attempts + 1):
            try:
                attempted = Deferred.fromCoroutine(self._attempt(event))
                await delivery.wait(attempted.addTimeout(self._timeout, self._reactor))
            except Exception as e:
                if delivery.cancelled:
                    log.info("notification {what} cancelled", what=what)
                    return False
                log.warn(
                    "notification {what} to {url} failed (attempt {attempt} of {attempts}): {error}",
                    what=what,
                    url=self._log_url,
                    attempt=attempt,
                    attempts=self._attempts,
                    error=_reason(e),
                )
            else:
                log.debug("notification {what} delivered", what=what)
                return True
            if attempt < self._attempts:
                delay = self._backoff * 2 ** (attempt - 1)
                try:
                    await delivery.wait(deferLater(self._reactor, delay, lambda: None))
                except CancelledError:
                    log.info("notification {what} cancelled", what=what)
                    return False
        log.error(
            "gave up on notification {what} to {url} after {attempts} attempts",
            what=what,
            url=self._log_url,
            attempts=self._attempts,
        )
        return False

    async def _attempt(self, event: Dict[str, Any]) -> None:
        response = await self._client.post(self._url, json=event, reactor=self._reactor)
        # Read (and drop) the body so the connection can be reused.
        await treq.collect(response, _discard)
        if not 200 <= response.code < 300:
            raise NotifyError(f"HTTP status {response.code}")

    def _finished(self, delivered: bool, delivery: _Delivery, result: Deferred) -> None:
        self._pending.pop(delivery, None)
        if not result.called:  # it may have been cancelled without a chance to finish
            result.callback(delivered)

    def _bug(self, failure, event: Dict[str, Any]) -> bool:
        log.failure("notification {what}: unexpected error", failure, what=_describe(event))
        return False


class MatchNotifications(MatchObserver):
    """Logs the start and end of each match and posts them as ``match_ready`` and ``match_ended``.

    ``notifier``: the :class:`Notifier` to post through (``None``: log only).
    """

    def __init__(self, notifier: Optional[Notifier] = None):
        self._notifier = notifier

    def match_launched(self, record: MatchRecord, spectate_url: str) -> None:
        """A match launched through the API has its port (the API knows its public URLs)."""
        log.info("match {match_id} started on port {port}", match_id=record.match_id, port=record.port)
        self._post({"event": "match_ready", "match_id": record.match_id, "port": record.port,
                    "spectate_url": spectate_url})

    def match_ended(self, record: MatchRecord) -> None:
        ending = {"result": record.result} if record.result is not None else {"reason": record.reason}
        log.info("match {match_id} ended: {ending}", match_id=record.match_id, ending=ending)
        self._post({"event": "match_ended", "match_id": record.match_id, **ending})

    def _post(self, event: Dict[str, Any]) -> None:
        if self._notifier is not None:
            self._notifier.post(event)


def _redacted(url: str) -> str:
    """``url`` without user info, query or fragment, which may hold secrets, for logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _describe(event: Dict[str, Any]) -> str:
    return f"{event.get('event', '?')} for match {event.get('match_id', '?')}"


def _reason(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    reasons = getattr(error, "reasons", None)  # treq/Agent's ResponseFailed and friends
    if reasons:
        text = "; ".join(reason.getErrorMessage() for reason in reasons[:3])
    else:
        text = str(error) or type(error).__name__
    return text[:300]
